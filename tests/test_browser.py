"""The text page in real headless Chromium (fixtures in tests/browser.py)."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS, wait_for_url

pytestmark = pytest.mark.browser

TOKENS = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]


def tick_labels(page: Page, axis: str) -> list[str]:
    return page.locator(f"#heatmap .{axis}tick text").all_text_contents()


def test_sentence_to_heatmap_and_model_view(live_server: str, page: Page) -> None:
    page.goto(live_server + "/")
    expect(page.locator("#model option[value='minilm-l6']")).to_have_count(1)
    page.fill("#text", "The cat sat on the mat.")
    page.press("#text", "Enter")
    page.wait_for_selector("#heatmap .xtick text", timeout=30_000)
    assert tick_labels(page, "x") == TOKENS
    assert tick_labels(page, "y") == TOKENS
    expect(page.locator("#grid .thumb")).to_have_count(72)
    expect(page.locator("#status")).to_contain_text("9 tokens, 72 maps")

    page.locator('#grid .thumb[data-layer="3"][data-head="7"]').click()
    expect(page.locator("#heatmap")).to_have_attribute("data-layer", "3")
    expect(page.locator("#heatmap")).to_have_attribute("data-head", "7")
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 3, head 7 (self-attention)")
    expect(page.locator('#grid .thumb[data-layer="3"][data-head="7"]')).to_have_attribute("aria-pressed", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "text_page.png"), full_page=True)

    # Hovering a cell shows "query -> key: weight".
    box = page.locator("#heatmap .nsewdrag").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5 / 9, box["y"] + box["height"] * 2.5 / 9)
    expect(page.locator("#heatmap .hoverlayer")).to_contain_text("cat → [CLS]")

    # The address now carries the view; opening it elsewhere restores it.
    wait_for_url(page, has=("layer=3", "head=7", "model=minilm-l6"))
    page.select_option("#head", "mean")
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 3, mean over heads (self-attention)")
    wait_for_url(page, has=("head=mean",))  # written a moment after the redraw
    restored = page.context.new_page()
    restored.goto(page.url)
    expect(restored.locator("#heatmap .gtitle")).to_have_text(
        "Layer 3, mean over heads (self-attention)", timeout=30_000
    )
    assert restored.input_value("#text") == "The cat sat on the mat."


def test_markup_in_tokens_stays_text(live_server: str, page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(live_server + "/")
    page.fill("#text", "<img src=x onerror=alert(1)> </script><b>bold</b>")
    page.click("#run")
    page.wait_for_selector("#heatmap .xtick text", timeout=30_000)
    labels = tick_labels(page, "x")
    assert "<" in labels and ">" in labels and "/" in labels and "b" in labels
    assert page.locator("#heatmap img, #heatmap b, #grid img").count() == 0
    assert dialogs == []


def test_empty_text_and_api_errors_are_shown(live_server: str, page: Page, problems: list[str]) -> None:
    page.goto(live_server + "/")
    page.fill("#text", "   ")
    page.press("#text", "Enter")
    expect(page.locator("#error")).to_have_text("Type a sentence first.")
    page.fill("#text", "a, " * 600)  # under the character limit, over 512 tokens
    page.click("#run")
    expect(page.locator("#error")).to_contain_text("at most 512", timeout=30_000)
    expect(page.locator("#run")).to_be_enabled()
    # Chromium logs every 4xx answer; that one was expected.
    assert all("status of 422" in p for p in problems)
    problems.clear()


def test_api_docs_render_offline(live_server: str, page: Page) -> None:
    page.goto(live_server + "/docs")
    expect(page.locator(".opblock-summary-path", has_text="/api/attention/text")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "docs_page.png"))


def test_translation_shows_output_and_cross_attention(live_server: str, page: Page) -> None:
    page.goto(live_server + "/?model=marian-en-pt")
    expect(page.locator("#model")).to_have_value("marian-en-pt")
    page.fill("#text", "The old black cat slept.")
    page.press("#text", "Enter")
    expect(page.locator("#output-text")).to_have_text("O velho gato preto dormiu.", timeout=30_000)
    expect(page.locator("#kind")).to_have_value("cross")
    expect(page.locator("#grid .thumb")).to_have_count(16)  # 2 decoder layers x 8 heads
    page.locator('#grid .thumb[data-layer="1"][data-head="0"]').click()
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 1, head 0 (cross-attention)")
    assert tick_labels(page, "y") == ["▁O", "▁velho", "▁gato", "▁preto", "▁dormi", "u", ".", "</s>"]
    assert tick_labels(page, "x")[:4] == ["▁The", "▁old", "▁black", "▁cat"]
    page.screenshot(path=str(ARTIFACTS / "translation_page.png"), full_page=True)
    page.select_option("#kind", "encoder_self")
    expect(page.locator("#grid .thumb")).to_have_count(48)


def test_our_transformer_shows_its_masked_decoder_self_attention(live_server: str, page: Page) -> None:
    page.goto(live_server + "/?model=transformer-en-es&text=We+are+eating+bread.")
    page.press("#text", "Enter")
    expect(page.locator("#output-text")).not_to_be_empty(timeout=30_000)
    expect(page.locator("#kind")).to_have_value("cross")
    kinds = page.locator("#kind option").evaluate_all("options => options.map((o) => o.value)")
    assert sorted(kinds) == ["cross", "decoder_self", "encoder_self"]
    expect(page.locator("#grid .thumb")).to_have_count(12)  # 3 decoder layers x 4 heads
    page.select_option("#kind", "decoder_self")
    page.locator('#grid .thumb[data-layer="2"][data-head="1"]').click()
    expect(page.locator("#heatmap .gtitle")).to_contain_text("Layer 2, head 1")
    expect(page.locator("#heatmap .gtitle")).to_contain_text("masked")
    rows, cols = tick_labels(page, "y"), tick_labels(page, "x")
    assert cols[0] == "<s>" and rows[-1] == "</s>" and len(rows) == len(cols)  # steps see <s> + earlier output


def test_views_aggregates_and_word_merge(live_server: str, page: Page) -> None:
    page.goto(live_server + "/?model=marian-en-pt&text=The+old+black+cat+slept.&kind=cross&layer=1&head=0")
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 1, head 0 (cross-attention)", timeout=30_000)

    # Subword merge: "▁ s le pt" becomes "slept"; rows of the merged map still sum to 1.
    page.check("#merge")
    expect(page.locator("#heatmap .xtick text").last).to_have_text("</s>")
    assert "slept" in tick_labels(page, "x") and "dormiu" in tick_labels(page, "y")
    wait_for_url(page, has=("word_level=1",))

    # Aggregates: max over heads; rollout is offered for self-attention only.
    page.select_option("#head", "max")
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 1, max over heads (cross-attention)")
    assert page.locator("#head option[value='rollout']").count() == 0
    page.select_option("#kind", "encoder_self")
    page.select_option("#layer", "5")
    page.select_option("#head", "rollout")
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 5, rollout up to this layer (encoder self-attention)")

    # Head view: one colour per head, lines drawn, a head can be switched off.
    page.check("input[name='view'][value='heads']")
    expect(page.locator("#head-view")).to_be_visible()
    expect(page.locator("#head-picker input")).to_have_count(8)
    all_lines = page.locator("#head-lines line").count()
    assert all_lines > 0
    page.uncheck("#head-picker input[data-head='0']")
    assert 0 < page.locator("#head-lines line").count() < all_lines
    assert page.locator("#head-lines text").first.text_content() == "The"
    page.screenshot(path=str(ARTIFACTS / "head_view.png"), full_page=True)

    # Per-head statistics: one row per head, sortable.
    expect(page.locator("#stats-table tbody tr")).to_have_count(8)
    page.click("#stats-table button[data-sort='entropy']")
    entropies = [float(t) for t in page.locator("#stats-table tbody tr td:nth-child(2)").all_text_contents()]
    assert entropies == sorted(entropies, reverse=True)


def test_attention_math_in_the_browser(live_server: str, page: Page) -> None:
    page.goto(live_server + "/")
    result = page.evaluate(
        """async () => {
        const attnMath = await import("/static/js/lib/math.js");
        const values = [[0.5, 0.25, 0.25], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]];
        const merged = attnMath.mergeWords(values, ["▁ca", "t", "▁."], ["▁ca", "t", "▁."]);
        const maps = [{shape: [3, 3], values}, {shape: [3, 3], values: values.map(r => [...r].reverse())}];
        const roll = attnMath.rollout([maps, maps], 1);
        return {
          labels: merged.colTokens,
          mergedSums: merged.values.map(r => r.reduce((a, b) => a + b, 0)),
          first: Array.from(merged.values[0]),
          rollSums: roll.map(r => r.reduce((a, b) => a + b, 0)),
          groups: attnMath.wordGroups(["[CLS]", "un", "##believ", "##able", "[SEP]"]).labels,
        };
    }"""
    )
    assert result["labels"] == ["cat", "."]
    assert result["first"] == pytest.approx([(0.75 + 0.7) / 2, (0.25 + 0.3) / 2])
    assert result["mergedSums"] == pytest.approx([1, 1])
    assert result["rollSums"] == pytest.approx([1, 1, 1])
    assert result["groups"] == ["[CLS]", "unbelievable", "[SEP]"]
