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
