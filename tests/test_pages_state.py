"""One state model per page, in headless Chromium: every stale case of issue 14, and the view rules.

A new model or input clears the old result before drawing, an error replaces the result, the address
names what is drawn (with the API's names), and answers to superseded requests never land.
"""

import json
import re

import pytest
from playwright.sync_api import Page, Route, expect

from app.api.routes.samples import sample_jpeg
from tests.browser import wait_for_url

pytestmark = pytest.mark.browser

CAT = "/?model=minilm-l6&text=The+cat+sat+on+the+mat."


def text_posts(page: Page) -> list[dict[str, object]]:
    """Records the JSON bodies of every POST /api/attention/text the page sends."""
    bodies: list[dict[str, object]] = []
    page.on(
        "request",
        lambda r: (
            bodies.append(json.loads(r.post_data or "{}"))
            if r.method == "POST" and r.url.endswith("/api/attention/text")
            else None
        ),
    )
    return bodies


def test_model_without_maps_replaces_the_old_result(live_server: str, page: Page) -> None:
    page.goto(live_server + "/?model=marian-en-pt&text=we+are+eating+bread")
    expect(page.locator("#output-text")).not_to_be_empty(timeout=60_000)
    expect(page.locator("#heatmap .gtitle")).to_contain_text("cross-attention")
    old_output = page.locator("#output-text").text_content()

    # rnn-none has no attention at all: its answer has no maps, and nothing of Marian's may stay.
    page.select_option("#model", "rnn-none-en-es")
    expect(page.locator("#status")).to_contain_text("no attention maps", timeout=60_000)
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#output-text")).not_to_have_text(old_output or "")
    expect(page.locator("#view-controls")).to_be_hidden()
    expect(page.locator("#heatmap .gtitle")).to_have_count(0)
    wait_for_url(page, has=("model=rnn-none-en-es",), lacks=("layer=",))

    # Changing the model runs the sentence again: the label, the output and the address agree.
    page.select_option("#model", "transformer-en-es")
    expect(page.locator("#heatmap .gtitle")).to_contain_text("cross-attention", timeout=60_000)
    expect(page.locator("#model")).to_have_value("transformer-en-es")
    wait_for_url(page, has=("model=transformer-en-es",))


def test_an_error_replaces_the_result(live_server: str, page: Page, problems: list[str]) -> None:
    page.goto(live_server + CAT)
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 0, head 0 (self-attention)", timeout=60_000)
    page.fill("#text", "a, " * 600)  # over MiniLM's 512 tokens
    page.press("#text", "Enter")
    expect(page.locator("#error")).to_contain_text("at most 512", timeout=60_000)
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#grid .thumb")).to_have_count(0)
    expect(page.locator("#heatmap .gtitle")).to_have_count(0)
    assert all("status of 422" in p for p in problems)
    problems.clear()


def test_a_superseded_answer_never_lands(live_server: str, page: Page) -> None:
    page.goto(live_server + "/?model=marian-en-pt")
    expect(page.locator("#model")).to_have_value("marian-en-pt")
    page.fill("#text", "The old black cat slept.")
    page.press("#text", "Enter")
    page.select_option("#model", "minilm-l6")  # at once, before Marian answers
    expect(page.locator("#status")).to_contain_text("maps.", timeout=60_000)
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 0, head 0 (self-attention)")
    expect(page.locator("#output")).to_be_hidden()
    expect(page.locator("#kind")).to_have_value("self")
    page.wait_for_timeout(500)  # give a late Marian answer the chance to land, if it could
    expect(page.locator("#kind")).to_have_value("self")
    wait_for_url(page, has=("model=minilm-l6",))


def test_word_level_in_the_address_and_one_request_per_view(live_server: str, page: Page) -> None:
    posts = text_posts(page)
    page.goto(live_server + CAT + "&word_level=1&view=heatmap")
    expect(page.locator("#grid .thumb[data-loaded='true']")).to_have_count(72, timeout=60_000)
    expect(page.locator("#merge")).to_be_checked()
    assert len(posts) == 2, posts  # the open layer, then every layer for the model view (not one per layer)
    for layer, head in (("4", "3"), ("5", "mean"), ("2", "rollout")):
        page.select_option("#layer", layer)
        page.select_option("#head", head)
        expect(page.locator("#heatmap")).to_have_attribute("data-head", head)
    assert len(posts) == 2, posts  # switching layers, heads and rollout asks the server nothing
    wait_for_url(page, has=("word_level=1", "head=rollout"), lacks=("words=",))
    page.uncheck("#merge")
    wait_for_url(page, lacks=("word_level",))


def test_512_tokens_draw_on_canvas(live_server: str, page: Page) -> None:
    posts = text_posts(page)
    page.goto(live_server + "/")
    page.fill("#text", "The cat sat on the mat. " * 72 + "The cat sat on the mat")  # 512 tokens, 1,750 characters
    page.press("#text", "Enter")
    expect(page.locator("#heatmap")).to_have_attribute("data-renderer", "canvas", timeout=60_000)
    expect(page.locator("#heatmap")).to_have_attribute("data-rows", "512")
    expect(page.locator("#status")).to_contain_text("512 tokens, 72 maps", timeout=120_000)
    assert len(posts) == 2
    page.select_option("#head", "rollout")
    expect(page.locator("#heatmap")).to_have_attribute("data-head", "rollout")
    expect(page.locator("#heatmap canvas")).to_have_count(1)


def test_translation_opens_on_its_readable_layer_and_single_maps_hide_the_model_view(
    live_server: str, page: Page
) -> None:
    page.goto(live_server + "/?model=marian-en-pt&text=The+old+black+cat+slept.")
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 1, head 0 (cross-attention)", timeout=60_000)
    expect(page.locator("#model-view")).to_be_visible()
    expect(page.locator("#beam-field")).to_be_hidden()

    page.select_option("#model", "rnn-additive-en-es")
    expect(page.locator("#beam-field")).to_be_visible()
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 0, head 0 (cross-attention)", timeout=60_000)
    expect(page.locator("#model-view")).to_be_hidden()  # one map: a model view would only repeat it
    posts = text_posts(page)
    page.select_option("#beam", "4")
    expect(page.locator("#status")).to_contain_text("maps.", timeout=60_000)
    assert posts and all(p.get("beam") == 4 for p in posts)
    wait_for_url(page, has=("beam=4",))


def test_picker_groups_by_task_and_explains_unavailable_models(live_server: str, page: Page) -> None:
    page.goto(live_server + "/")
    groups = page.locator("#model optgroup")
    expect(groups.first).to_have_attribute("label", "Encoders")
    labels = page.locator("#model option").all_text_contents()
    assert labels and all(len(label) <= 40 and "missing" not in label and "/" not in label for label in labels)
    unavailable = page.locator("#model optgroup[label='Not available here'] option")
    if unavailable.count():  # models whose weights are not committed here: reason in the note, not the label
        assert all(unavailable.nth(i).is_disabled() for i in range(unavailable.count()))
        expect(page.locator("#unavailable")).to_be_attached()
        expect(page.locator("#unavailable li")).to_have_count(unavailable.count())


def test_head_view_by_keyboard(live_server: str, page: Page) -> None:
    page.goto(live_server + CAT + "&view=heads&layer=2&head=mean")
    expect(page.locator("#head-lines text.hv-query")).to_have_count(9, timeout=60_000)
    all_lines = page.locator("#head-lines line").count()
    query = page.locator("#head-lines text.hv-query[data-row='2']")
    query.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#head-lines text.hv-query[data-row='2']")).to_have_attribute("aria-pressed", "true")
    isolated = page.locator("#head-lines line").count()
    assert 0 < isolated < all_lines
    # Focus stays on the query after the redraw; Space shows every query again.
    page.keyboard.press(" ")
    expect(page.locator("#head-lines text.hv-query[data-row='2']")).to_have_attribute("aria-pressed", "false")
    assert page.locator("#head-lines line").count() == all_lines
    page.locator("#head-lines text.hv-query[data-row='4']").click()  # a click or a tap picks a query too
    expect(page.locator("#head-lines text.hv-query[data-row='4']")).to_have_attribute("aria-pressed", "true")


def test_page_controls_come_before_chart_toolbars(live_server: str, page: Page) -> None:
    page.goto(live_server + CAT)
    expect(page.locator("#grid .thumb[data-loaded='true']")).to_have_count(72, timeout=60_000)
    page.locator("#heatmap").hover()
    page.focus("#export-main [data-export='npz']")  # the last of the page's own controls above the map
    for _ in range(9):  # the model view's five download buttons come before its thumbnails
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.closest('.modebar') !== null")
        assert not focused, "Tab reached a chart toolbar before the thumbnails"
        if page.evaluate("() => document.activeElement.classList.contains('thumb')"):
            break
    else:
        pytest.fail("the thumbnails are not among the nine stops after the page's controls")


def test_image_stale_cases(live_server: str, page: Page, problems: list[str]) -> None:
    page.goto(live_server + "/image?model=captioner-sat&sample=chelsea")
    expect(page.locator("#caption-words .caption-word").first).to_be_visible(timeout=60_000)

    # An empty caption clears the previous captioner's words, overlay and selectors.
    def empty_caption(route: Route) -> None:
        body = route.fetch().json()
        body.update(caption="", output_tokens=[], maps=[], gates=None)
        route.fulfill(json=body)

    page.route("**/api/attention/image", empty_caption)
    page.select_option("#model", "captioner-transformer")
    expect(page.locator("#status")).to_contain_text("empty caption", timeout=60_000)
    expect(page.locator("#caption-words .caption-word")).to_have_count(0)
    expect(page.locator("#map-caption")).to_be_empty()
    expect(page.locator("#image-controls")).to_be_hidden()
    expect(page.locator("#overlay")).not_to_have_attribute("data-step", re.compile(r"\d"))
    page.unroute("**/api/attention/image")

    # An upload error replaces the caption instead of sitting above it.
    page.select_option("#model", "captioner-sat")
    expect(page.locator("#caption-words .caption-word").first).to_be_visible(timeout=60_000)
    page.set_input_files("#file", {"name": "notes.png", "mimeType": "image/png", "buffer": b"not really a png"})
    expect(page.locator("#error")).to_contain_text("not an image", timeout=60_000)
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#caption-words .caption-word")).to_have_count(0)
    assert all("status of 422" in p for p in problems)
    problems.clear()


def test_link_after_an_upload_says_to_upload_again(live_server: str, page: Page) -> None:
    page.goto(live_server + "/image?model=dinov2-s14")
    page.set_input_files("#file", {"name": "coffee.jpg", "mimeType": "image/jpeg", "buffer": sample_jpeg("coffee")})
    expect(page.locator("#overlay")).to_have_attribute("data-drawn", "1", timeout=60_000)
    page.click("#copy-link")
    expect(page.locator("#status")).to_contain_text("upload the photo again")
    copied = page.url
    assert "sample=" not in copied and "layer=11" in copied
    other = page.context.new_page()
    other.goto(copied)
    expect(other.locator("#status")).to_contain_text("upload the photo again")
    other.close()


def test_compare_stale_cases(live_server: str, page: Page) -> None:
    page.goto(live_server + "/compare?models=rnn-additive-en-es,rnn-dot-en-es&text=we+are+eating+bread")
    expect(page.locator("#compare-status")).to_have_text("2 models compared.", timeout=60_000)
    expect(page.locator(".compare-card")).not_to_have_count(0)
    page.uncheck("#model-picks input[value='rnn-dot-en-es']")
    page.click("#compare-run")
    expect(page.locator("#compare-error")).to_have_text("Pick two or more models.")
    expect(page.locator("#compare-status")).to_be_empty()
    expect(page.locator(".compare-card")).to_have_count(0)
    assert "models=rnn-additive-en-es" in page.url and "rnn-dot" not in page.url


def test_compare_defaults_to_one_pair_and_diffs_words(live_server: str, page: Page) -> None:
    page.goto(live_server + "/compare")
    expect(page.locator("#compare-pair")).to_have_value("en-es")
    checked = page.locator("#model-picks input:checked")
    expect(checked).not_to_have_count(0)
    assert all(v.endswith("-en-es") for v in checked.evaluate_all("bs => bs.map((b) => b.value)"))
    page.select_option("#compare-pair", "en-pt")
    assert page.locator("#model-picks input:checked").evaluate_all("bs => bs.map((b) => b.value)") == ["marian-en-pt"]
