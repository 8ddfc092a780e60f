"""The image page's side-by-side view, confidence warning, gallery and known-objects filter in headless Chromium.

The server's captioner-sat gets a test-only unsure threshold (UNSURE, above any real caption's confidence) through
its catalog loader, so the "model is unsure" message must appear; the shipped weights are not touched. The gallery
reads a tiny scene set built in a temporary folder. Screenshots land in artifacts/.
"""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from app.core.config import Settings
from app.main import create_app
from app.services.registry import ModelRegistry
from models.catalog import CATALOG, LoaderRef
from tests.browser import ARTIFACTS, wait_for_url
from tests.conftest import serve
from tests.test_pages_layout import AXE

pytestmark = pytest.mark.browser
UNSURE = 0.999  # test-only threshold: every real caption is less sure than this
TIMEOUT = 120_000  # ms: the first request to each captioner loads its weights


def load_unsure_sat() -> Any:
    """captioner-sat as shipped, with the test-only unsure threshold."""
    from models.serve.captioner import load_sat

    model = load_sat()
    model.unsure_below = UNSURE
    return model


@pytest.fixture(scope="module")
def side_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from models.data.scenes import main as build_scenes

    scenes = tmp_path_factory.mktemp("scenes")
    build_scenes(["--out", str(scenes), "--n", "60"])
    unsure = LoaderRef("tests.test_browser_side_by_side", "load_unsure_sat")
    specs = [replace(s, loader=unsure) if s.id == "captioner-sat" else s for s in CATALOG]
    settings = Settings(scenes_dir=scenes, real_photos_dir=Path(scenes) / "no_photos")
    with serve(create_app(settings, ModelRegistry(specs, torch_threads=1))) as url:
        yield url


def captioners(page: Page, url: str) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = page.request.get(url + "/api/models").json()
    return [m for m in models if m["task"] == "captioning"]


def test_every_captioner_side_by_side(side_server: str, page: Page) -> None:
    page.goto(side_server + "/image?view=side&sample=chelsea")
    wanted = captioners(page, side_server)
    assert {"captioner-sat", "captioner-transformer"} <= {m["id"] for m in wanted}
    cards = page.locator("#side-cards .side-card")
    expect(cards).to_have_count(len(wanted))
    for m in wanted:  # one card per captioner, in the catalog's order; an unavailable one says why
        card = page.locator(f'.side-card[data-model="{m["id"]}"]')
        expect(card).to_have_attribute("data-state", "done" if m["available"] else "error", timeout=TIMEOUT)
        if m["available"]:
            expect(card.locator(".caption-words")).not_to_be_empty()
            expect(card.locator(".side-expect")).to_contain_text("Expected: cat")
        else:
            expect(card.locator("[role=alert]")).to_contain_text("Not available here")
    assert [cards.nth(i).get_attribute("data-model") for i in range(len(wanted))] == [m["id"] for m in wanted]
    expect(page.locator("#model")).to_be_disabled()
    expect(page.locator("#result")).to_be_hidden()
    assert "view=side" in page.url and "sample=chelsea" in page.url

    # The test-only threshold makes captioner-sat unsure: the card says so instead of asserting its caption.
    sat = page.locator('.side-card[data-model="captioner-sat"]')
    expect(sat).to_have_attribute("data-unsure", "true")
    expect(sat.locator(".confidence-note")).to_contain_text("The model is unsure")
    expect(sat.locator(".confidence-note")).to_contain_text(f"below {UNSURE}")
    expect(sat.locator(".caption-label")).to_have_text("Unsure caption:")
    expect(sat.locator(".confidence-note")).not_to_contain_text("beam search")  # greedy: nothing to say
    assert next(m for m in wanted if m["id"] == "captioner-sat-cnn")["available"]
    cnn = page.locator('.side-card[data-model="captioner-sat-cnn"]')  # served with the beam its config sets
    expect(cnn.locator(".confidence-note")).to_contain_text("Decoded by beam search of width 3")
    words = sat.locator(".caption-word")
    assert words.count() >= 1
    expect(words.first.locator(".word-prob")).to_contain_text("p ")  # each word's probability

    # A word clicked on a card opens its map there; the shared selector opens a word on every card that has it.
    last = words.count() - 1
    words.nth(last).click()
    expect(words.nth(last)).to_have_attribute("aria-pressed", "true")
    expect(sat.locator("canvas")).to_have_attribute("data-step", str(last))
    word = words.nth(last).get_attribute("data-word") or ""
    page.select_option("#side-word", word)
    expect(sat.locator("canvas")).to_have_attribute("data-step", str(word_index(sat, word)))
    for m in wanted:
        card = page.locator(f'.side-card[data-model="{m["id"]}"]')
        if card.get_attribute("data-state") == "done" and word not in card_words(card):
            said = f"does not say \u201c{word}\u201d" if card_words(card) else "The caption is empty"
            expect(card.locator("figcaption")).to_contain_text(said)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "image_side_by_side.png"), full_page=True)

    # A held-out scene of the gallery runs every captioner again, each card checked against the scene's objects.
    scene = page.locator("#scene-samples button").first
    name = scene.get_attribute("data-sample") or ""
    objects = next(s["expect"] for s in page.request.get(side_server + "/api/samples").json() if s["name"] == name)
    expect(scene).to_contain_text(f"expect: {', '.join(objects)}")
    scene.click()
    wait_for_url(page, has=(f"sample={name}", "view=side"))
    for m in wanted:
        if m["available"]:
            card = page.locator(f'.side-card[data-model="{m["id"]}"]')
            expect(card.locator(".side-expect")).to_contain_text(f"Expected: {', '.join(objects)}", timeout=TIMEOUT)
            expect(card).to_have_attribute("data-state", "done")

    # Back to one model: the picker works again and the single result is drawn.
    page.check('input[name="view"][value="one"]')
    expect(page.locator("#model")).to_be_enabled()
    expect(page.locator("#side")).to_be_hidden()
    expect(page.locator("#result")).to_be_visible(timeout=TIMEOUT)


def card_words(card: Any) -> list[str]:
    return [b.get_attribute("data-word") or "" for b in card.locator(".caption-word").all()]


def word_index(card: Any, word: str) -> int:
    return card_words(card).index(word)


def test_side_by_side_on_a_phone_is_one_column_and_axe_clean(side_server: str, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)  # to inject axe
    page = context.new_page()
    page.goto(side_server + "/image?view=side&sample=chelsea")
    expect(page.locator('.side-card[data-model="captioner-sat"]')).to_have_attribute("data-state", "done",
                                                                                       timeout=TIMEOUT)
    expect(page.locator('.side-card[data-model="captioner-transformer"]')).to_have_attribute(
        "data-state", "done", timeout=TIMEOUT)
    sizes = page.evaluate("() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert sizes["scroll"] <= sizes["inner"], sizes
    lefts = {round(box["x"]) for box in (c.bounding_box() for c in page.locator(".side-card").all()) if box}
    assert len(lefts) == 1, lefts  # one column
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "phone_image_side_by_side.png"), full_page=True)
    assert AXE, "axe-core is missing: run `make axe` (npm) first"
    page.add_script_tag(path=str(AXE[-1]))
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`)"""
    )
    context.close()
    assert found == []


def test_unsure_caption_and_the_known_objects_filter_from_the_keyboard(side_server: str, page: Page) -> None:
    page.goto(side_server + "/image?model=captioner-sat&sample=chelsea")
    expect(page.locator("#caption-box")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#confidence")).to_contain_text("The model is unsure")
    expect(page.locator("#caption-label")).to_have_text("Unsure caption:")
    expect(page.locator("#expect-note")).to_contain_text("Expected: cat")
    expect(page.locator("#caption-words .word-prob")).to_have_count(0)
    page.check("#show-probs")
    expect(page.locator("#caption-words .word-prob").first).to_contain_text("p ")

    known: list[str] = page.request.post(
        side_server + "/api/attention/image", multipart={
            "model": "captioner-sat",
            "file": {"name": "c.jpg", "mimeType": "image/jpeg", "buffer": page.request.get(
                side_server + "/api/samples/chelsea").body()},
        }).json()["known_objects"]
    assert len(known) >= 20
    expect(page.locator("#known-total")).to_have_text(f"{len(known)} words")
    summary = page.locator("#known summary")
    summary.focus()
    page.keyboard.press("Enter")  # opens the details
    expect(page.locator("#known")).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    expect(page.locator("#known-filter")).to_be_focused()
    page.keyboard.type("ca")
    matching = [w for w in known if "ca" in w]
    expect(page.locator("#known-count")).to_have_text(f"{len(matching)} of {len(known)}")
    expect(page.locator("#known-list li")).to_have_count(len(matching))
    assert page.locator("#known-list li").all_inner_texts() == matching
    page.keyboard.type("zzz")
    expect(page.locator("#known-count")).to_contain_text(f"0 of {len(known)}: no known word contains")
    page.keyboard.press("Escape")  # clears the filter
    expect(page.locator("#known-filter")).to_have_value("")
    expect(page.locator("#known-list li")).to_have_count(len(known))
