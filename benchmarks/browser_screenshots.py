"""Retakes the README screenshots (docs/*.png) at desktop (1400 x 1000) and phone (390 x 844) sizes.

Headless Debian Chromium (Playwright) against a real uvicorn server on loopback; each shot waits for the
page's own "drawn" signals, never for a fixed time.
Run: make screenshots   (or .venv/bin/python -m benchmarks.browser_screenshots)
"""

import shutil
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from benchmarks import load
from tests.browser import CHROMIUM_FLAGS

DOCS = Path(__file__).resolve().parents[1] / "docs"
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}


def text_ready(page: Page) -> None:
    expect(page.locator("#status")).to_contain_text("maps.", timeout=180_000)


def image_ready(page: Page) -> None:
    expect(page.locator("#overlay")).to_have_attribute("data-drawn", "1", timeout=180_000)


def caption_scene(page: Page) -> None:
    from models.data import scenes as sc

    split = sc.splits(4000, seed=0)
    scene = next(s for i in range(4000) if split[i] == "test" and len((s := sc.compose(i, 0, "test")).objects) == 2)
    page.set_input_files("#file", {"name": "scene.png", "mimeType": "image/png", "buffer": sc.scene_png(scene)})
    image_ready(page)
    words = page.locator("#caption-words .caption-word")
    names = set(sc.OBJECT_NAMES)
    texts = words.all_inner_texts()
    noun = next((i for i, w in enumerate(texts) if w in names), 0)
    words.nth(noun).click()


def caption_person(page: Page) -> None:
    """captioner-sat-cnn on the astronaut: the map of "person", found with the help of the face cue."""
    image_ready(page)
    page.locator("#caption-words .caption-word", has_text="person").first.click()
    expect(page.locator("#overlay")).not_to_have_attribute("data-drawn", "1", timeout=180_000)  # drawn again
    page.evaluate("document.getElementById('confidence').scrollIntoView()")  # the caption, its note and the map


def side_ready(page: Page) -> None:
    """Every side-by-side card has answered (or said why it cannot)."""
    page.wait_for_function(
        """() => { const cards = [...document.querySelectorAll("#side-cards .side-card")];
                   return cards.length > 0 && cards.every((c) => c.dataset.state !== "loading"); }""",
        timeout=180_000,
    )


SHOTS: list[tuple[str, dict[str, int], str, Callable[[Page], None]]] = [
    ("screenshot-text.png", DESKTOP, "/?model=minilm-l6&text=The+cat+sat+on+the+mat+because+it+was+warm.", text_ready),
    ("screenshot-text-phone.png", PHONE, "/?model=minilm-l6&text=The+cat+sat+on+the+mat.", text_ready),
    (
        "screenshot-reference.png",
        DESKTOP,
        "/?model=rnn-additive-en-es&text=We+are+eating+bread.&word_level=1&reference=1",
        lambda p: expect(p.locator("#reference-note")).to_contain_text("agreement", timeout=180_000),
    ),
    (
        "screenshot-head-view.png",
        DESKTOP,
        "/?model=marian-en-pt&text=The+old+black+cat+slept.&kind=encoder_self&layer=5&head=rollout&view=heads",
        text_ready,
    ),
    (
        "screenshot-masked.png",
        DESKTOP,
        "/?model=transformer-en-es&text=We+are+eating+bread.&kind=decoder_self&layer=2&head=1",
        text_ready,
    ),
    (
        "screenshot-explain.png",
        DESKTOP,
        "/?model=marian-en-pt&text=The+old+black+cat+slept.&kind=cross&layer=1&head=mean&view=explain",
        lambda p: expect(p.locator("#explain-table tbody tr")).to_have_count(3, timeout=180_000),
    ),
    ("screenshot-image.png", DESKTOP, "/image?model=dinov2-s14&sample=chelsea&layer=11&head=mean", image_ready),
    ("screenshot-image-phone.png", PHONE, "/image?model=dinov2-s14&sample=chelsea&layer=11&head=mean", image_ready),
    ("screenshot-caption.png", DESKTOP, "/image?model=captioner-sat", caption_scene),
    ("screenshot-image-side.png", DESKTOP, "/image?view=side&sample=chelsea", side_ready),
    ("screenshot-caption-person.png", DESKTOP, "/image?model=captioner-sat-cnn&sample=astronaut", caption_person),
    (
        "screenshot-compare-phone.png",
        PHONE,
        "/compare?models=rnn-additive-en-es,rnn-dot-en-es&text=we+are+eating+bread",
        lambda p: expect(p.locator("#compare-status")).to_contain_text("compared", timeout=180_000),
    ),
]


def main(only: list[str] | None = None) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium is not installed: run `make chromium`.")
    with load.serve() as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        for name, viewport, path, ready in SHOTS:
            if only and name not in only:
                continue
            context = browser.new_context(viewport=viewport, device_scale_factor=1)
            page = context.new_page()
            page.goto(server.url + path)
            ready(page)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(DOCS / name), full_page=viewport is PHONE)
            print(f"docs/{name}")  # noqa: T201
            context.close()
        browser.close()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:] or None)  # names of shots to retake; all when none
