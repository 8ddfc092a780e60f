"""The audio page in real headless Chromium (fixtures in tests/browser.py): a sample clip, the words on the waveform,
a clicked word's cross-attention under the spectrogram, the heatmaps per layer and head, the encoder map on demand,
an upload and an error. The screenshot lands in artifacts/audio_page.png for people to look at."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/share/pocketsphinx/test/data").is_dir(), reason="pocketsphinx-testdata missing"),
]
CLIP = Path("/usr/share/pocketsphinx/test/data/cards/001.wav")


def test_sample_words_word_attention_and_maps(live_server: str, page: Page, problems: list[str]) -> None:
    page.goto(live_server + "/audio?sample=librivox-0930")
    expect(page.locator("#samples button")).to_have_count(10)
    expect(page.locator("#words button")).to_have_count(8, timeout=90_000)
    expect(page.locator("#words button").nth(1)).to_have_text("might")
    expect(page.locator("#waveform")).to_have_attribute("data-words", "8")
    expect(page.locator("#spectrogram")).to_have_attribute("data-drawn", "1")
    expect(page.locator("#cross-map")).to_have_attribute("data-rows", "12")  # 2 prompt steps, 9 text tokens, end
    expect(page.locator("#cross-map")).to_have_attribute("data-cols", "165")  # 164 frames of 20 ms + padding
    expect(page.locator("#head option")).to_have_count(7)
    expect(page.locator("#head option[value='0']")).to_have_text("0 (alignment head)")  # (3, 0) is one
    expect(page.locator("#alignment-note")).to_contain_text("(1, 0), (2, 0), (2, 5), (3, 0)")

    page.locator("#words button").nth(5).click()
    expect(page.locator("#word-attention")).to_have_attribute("data-word", "5")
    expect(page.locator("#words button").nth(5)).to_have_attribute("aria-pressed", "true")
    assert "word=5" in page.url

    page.select_option("#layer", "1")
    page.select_option("#head", "4")
    expect(page.locator("#head option[value='0']")).to_have_text("0 (alignment head)")  # (1, 0) is one
    assert "layer=1" in page.url and "head=4" in page.url
    page.locator("#encoder-details summary").click()
    expect(page.locator("#encoder-map")).to_have_attribute("data-rows", "164", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "audio_page.png"), full_page=True)
    assert not problems, problems


def test_upload_and_a_clear_error(live_server: str, page: Page, problems: list[str]) -> None:
    page.goto(live_server + "/audio")
    page.set_input_files("#file", {"name": "001.wav", "mimeType": "audio/wav", "buffer": CLIP.read_bytes()})
    expect(page.locator("#words button")).to_have_count(3, timeout=90_000)
    expect(page.locator("#status")).to_contain_text("s of WAV, 3 words.")
    page.set_input_files("#file", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not audio at all"})
    expect(page.locator("#error")).to_contain_text("not an audio file", timeout=30_000)
    expect(page.locator("#result")).to_be_hidden()
    problems[:] = [p for p in problems if "422" not in p]  # the refused upload's response is logged by Chromium
    assert not problems, problems


def test_heads_switched_off_give_the_apis_transcript(live_server: str, page: Page, problems: list[str]) -> None:
    """Every encoder head of layer 0 checked off: the page shows the API's ablated transcript beside the original;
    one decoder cross head off keeps the tokens, so the difference map of the shown cross map is drawn."""
    import json

    page.goto(live_server + "/audio?sample=librivox-0930&layer=3&head=0")
    expect(page.locator("#words button")).to_have_count(8, timeout=90_000)
    expect(page.locator("#audio-ablation")).to_be_visible()
    page.click("#audio-ablation summary")
    expect(page.locator("#audio-ablate-grids fieldset")).to_have_count(3)
    expect(page.locator("#audio-ablate-grids input")).to_have_count(3 * 4 * 6)
    for head in range(6):
        page.check(f"#audio-ablate-grids input[data-kind='encoder_self'][data-layer='0'][data-head='{head}']")
    expect(page.locator("#audio-ablate-run")).to_have_text("Run without the 6 checked heads")
    page.click("#audio-ablate-run")
    expect(page.locator("#audio-ablate-result")).to_contain_text("Without 6 heads", timeout=90_000)
    clip = page.request.get(live_server + "/api/audio-samples/librivox-0930").body()
    off = [["encoder_self", 0, h] for h in range(6)]
    api = page.request.post(live_server + "/api/attention/audio", multipart={
        "model": "whisper-tiny-en", "ablate": json.dumps(off), "kinds": "cross", "layers": "3",
        "file": {"name": "clip.wav", "mimeType": "audio/wav", "buffer": clip}}).json()  # fmt: skip
    assert api["transcript"] != "He might even have been made amiable himself."  # the case this test is about
    expect(page.locator("#audio-ablate-result")).to_have_attribute("data-transcript", api["transcript"])
    expect(page.locator("#audio-ablate-result")).to_contain_text("The transcript changed.")

    for head in range(6):
        page.uncheck(f"#audio-ablate-grids input[data-kind='encoder_self'][data-layer='0'][data-head='{head}']")
    page.check("#audio-ablate-grids input[data-kind='cross'][data-layer='2'][data-head='1']")
    page.click("#audio-ablate-run")
    expect(page.locator("#audio-ablate-result")).to_contain_text("The transcript is the same.", timeout=90_000)
    expect(page.locator("#audio-ablate-diff")).to_be_visible()
    assert float(page.get_attribute("#audio-ablate-diff", "data-max-difference") or 0) > 1e-4  # layer 3 reads L2
    assert problems == []
