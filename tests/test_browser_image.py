"""The image page in real headless Chromium (fixtures in tests/browser.py).
The screenshot lands in artifacts/image_page.png for people to look at.
"""

import json

import pytest
from playwright.sync_api import Page, expect

from app.api.routes.samples import sample_jpeg
from models.serve.captioner import WEIGHTS_DIR
from tests.browser import ARTIFACTS

pytestmark = pytest.mark.browser
# Reads the overlay canvas back: how many distinct colours, and a cheap checksum of its pixels.
CANVAS_STATS = """() => {
  const c = document.getElementById("overlay");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  const colours = new Set();
  let sum = 0;
  for (let i = 0; i < d.length; i += 4) {
    colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    sum = (sum + d[i] * 3 + d[i + 1] * 5 + d[i + 2] * 7 + i) % 1000000007;
  }
  return { width: c.width, height: c.height, colours: colours.size, sum };
}"""


def wait_drawn(page: Page, after: int = 0) -> dict[str, int]:
    """Wait until the overlay has been drawn more than `after` times; return its pixel stats."""
    page.wait_for_function(
        f"() => Number(document.getElementById('overlay').dataset.drawn || 0) > {after}", timeout=60_000
    )
    stats: dict[str, int] = page.evaluate(CANVAS_STATS)
    return stats


def draws(page: Page) -> int:
    return int(page.locator("#overlay").get_attribute("data-drawn") or 0)


def test_upload_overlay_selectors_and_samples(live_server: str, page: Page) -> None:
    page.goto(live_server + "/image")
    expect(page.locator("#model option[value='dinov2-s14']")).to_have_count(1)
    photos = [s for s in page.request.get(live_server + "/api/samples").json() if s["kind"] == "photo"]
    expect(page.locator("#samples button")).to_have_count(len(photos))  # the real photos; scenes in their own row
    expect(page.locator('#samples button[data-sample="chelsea"] .sample-expect')).to_have_text("expect: cat")

    page.set_input_files("#file", {"name": "coffee.jpg", "mimeType": "image/jpeg", "buffer": sample_jpeg("coffee")})
    first = wait_drawn(page)
    assert (first["width"], first["height"]) == (640, 427)  # coffee is 600 x 400, drawn 640 wide
    assert first["colours"] > 1000, first  # the photo plus a smooth overlay, not a blank box
    expect(page.locator("#status")).to_have_text("96 maps over 16 x 16 patches.")
    expect(page.locator("#layer")).to_have_value("11")
    expect(page.locator("#head")).to_have_value("mean")
    expect(page.locator("#thumbs .image-thumb")).to_have_count(8)  # 6 heads, mean, rollout
    expect(page.locator("#preview")).to_be_visible()
    expect(page.locator("#geometry")).to_contain_text("600 x 400 px")

    n = draws(page)
    page.select_option("#head", "3")
    head3 = wait_drawn(page, n)
    assert head3["sum"] != first["sum"]
    expect(page.locator("#map-caption")).to_contain_text("Layer 11, head 3:")

    n = draws(page)
    page.select_option("#layer", "5")
    layer5 = wait_drawn(page, n)
    assert layer5["sum"] != head3["sum"]
    expect(page.locator("#overlay")).to_have_attribute("data-layer", "5")

    n = draws(page)
    page.select_option("#head", "rollout")
    rollout = wait_drawn(page, n)
    assert rollout["sum"] != layer5["sum"]
    expect(page.locator("#map-caption")).to_contain_text("Rollout through layer 5")

    n = draws(page)
    page.locator('#thumbs .image-thumb[data-map="2"]').click()
    wait_drawn(page, n)
    expect(page.locator("#head")).to_have_value("2")
    expect(page.locator('#thumbs .image-thumb[data-map="2"]')).to_have_attribute("aria-pressed", "true")

    n = draws(page)
    page.fill("#opacity", "20")
    faint = wait_drawn(page, n)
    assert faint["sum"] != rollout["sum"]

    n = draws(page)
    page.check("#hide-artifacts")
    wait_drawn(page, n)
    expect(page.locator("#artifact-count")).not_to_be_empty()

    # A sample keeps the chosen view and goes into the address bar.
    n = draws(page)
    page.locator('#samples button[data-sample="chelsea"]').click()
    chelsea = wait_drawn(page, n)
    assert (chelsea["width"], chelsea["height"]) == (640, 426)  # 451 x 300, drawn 640 wide
    expect(page.locator('#samples button[data-sample="chelsea"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#layer")).to_have_value("5")
    expect(page.locator("#head")).to_have_value("2")
    n = draws(page)
    page.select_option("#layer", "11")
    page.select_option("#head", "mean")
    page.fill("#opacity", "60")
    wait_drawn(page, n)
    assert "sample=chelsea" in page.url and "layer=11" in page.url and "head=mean" in page.url
    assert "model=dinov2-s14" in page.url
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "image_page.png"), full_page=True)

    # A copied link reopens the same view.
    restored = page.context.new_page()
    restored.goto(page.url.replace("head=mean", "head=4"))
    wait_drawn(restored)
    expect(restored.locator("#layer")).to_have_value("11")
    expect(restored.locator("#head")).to_have_value("4")
    expect(restored.locator("#map-caption")).to_contain_text("Layer 11, head 4:")


def test_bad_upload_shows_the_server_message(live_server: str, page: Page, problems: list[str]) -> None:
    page.goto(live_server + "/image")
    expect(page.locator("#model option[value='dinov2-s14']")).to_have_count(1)
    page.set_input_files("#file", {"name": "notes.png", "mimeType": "image/png", "buffer": b"not really a png"})
    expect(page.locator("#error")).to_contain_text("not an image this service can read", timeout=60_000)
    expect(page.locator("#result")).to_be_hidden()
    # Chromium logs every 4xx answer; that one was expected.
    assert problems and all("status of 422" in p for p in problems)
    problems.clear()

    # Dropping a photo on the drop zone runs it and clears the error.
    page.evaluate("""async () => {
      const blob = await (await fetch("/api/samples/rocket")).blob();
      const data = new DataTransfer();
      data.items.add(new File([blob], "rocket.jpg", { type: "image/jpeg" }));
      document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true }));
    }""")
    stats = wait_drawn(page)
    assert stats["colours"] > 1000
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#geometry")).to_contain_text("640 x 427 px")


CAPTIONERS = ("captioner-sat", "captioner-transformer")  # weights in git: missing ones fail loudly


def test_caption_words_open_their_maps(live_server: str, page: Page) -> None:
    from models.data.scenes import OBJECT_NAMES, scene_png
    from tests.test_captioner import first_test_scene

    scene = first_test_scene(2)
    page.goto(live_server + "/image")
    expect(page.locator("#model option[value='captioner-sat']")).to_have_count(1)
    page.select_option("#model", "captioner-sat")
    page.set_input_files("#file", {"name": "scene.png", "mimeType": "image/png", "buffer": scene_png(scene)})
    first = wait_drawn(page)
    assert (first["width"], first["height"]) == (640, 640)
    words = page.locator("#caption-words .caption-word")
    expect(page.locator("#caption-box")).to_be_visible()
    caption = " ".join(words.all_inner_texts())
    assert caption and set(caption.split()) & set(OBJECT_NAMES), caption  # names at least one object
    n_words = len(caption.split())
    expect(page.locator("#status")).to_contain_text(f"Caption of {n_words} words")
    expect(page.locator("#thumbs .image-thumb")).to_have_count(n_words)  # one thumbnail per word
    config = json.loads((WEIGHTS_DIR / "captioner-sat" / "config.json").read_text())
    expect(page.locator("#known-total")).to_have_text(f"{len(config['known_objects'])} words")  # what it knows
    expect(page.locator("#confidence")).to_contain_text("onfidence")  # calibrated or not, it states a confidence
    expect(page.locator("#layer")).to_be_disabled()
    expect(words.nth(0)).to_have_attribute("aria-pressed", "true")

    # Clicking an object word draws that word's map over the photo.
    noun = next(i for i, w in enumerate(caption.split()) if w in OBJECT_NAMES)
    n = draws(page)
    words.nth(noun).click()
    shown = wait_drawn(page, n)
    assert shown["sum"] != first["sum"]
    expect(page.locator("#overlay")).to_have_attribute("data-step", str(noun))
    expect(words.nth(noun)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#map-caption")).to_contain_text(f'"{caption.split()[noun]}" (word {noun + 1} of {n_words})')
    expect(page.locator("#map-caption")).to_contain_text("Image gate \u03b2 = ")  # Show-Attend-Tell's gate
    expect(page.locator(f'#thumbs .image-thumb[data-step="{noun}"]')).to_have_attribute("aria-pressed", "true")
    assert f"step={noun}" in page.url and "model=captioner-sat" in page.url
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "image_caption_page.png"), full_page=True)

    # A thumbnail of the strip opens its word too.
    n = draws(page)
    page.locator('#thumbs .image-thumb[data-step="0"]').click()
    wait_drawn(page, n)
    expect(page.locator("#overlay")).to_have_attribute("data-step", "0")

    if "captioner-transformer" in CAPTIONERS:
        n = draws(page)
        page.select_option("#model", "captioner-transformer")
        wait_drawn(page, n)
        # It opens on the layer that points best on validation scenes (config.json), else the last one.
        config = json.loads((WEIGHTS_DIR / "captioner-transformer" / "config.json").read_text())
        opened = config.get("pointing_layer")
        opened = 2 if opened is None else opened
        expect(page.locator("#layer")).to_be_enabled()
        expect(page.locator("#layer")).to_have_value(str(opened))
        expect(page.locator("#head")).to_have_value("mean")
        expect(page.locator("#map-caption")).to_contain_text(f"cross-attention layer {opened}, mean over heads")
        n = draws(page)
        page.select_option("#head", "1")
        wait_drawn(page, n)
        expect(page.locator("#map-caption")).to_contain_text(f"cross-attention layer {opened}, head 1")


def test_the_artifact_note_is_for_vit_patches_only(live_server: str, page: Page) -> None:
    """captioner-sat-cnn's CNN cells have no high-norm artifact tokens: no note, no toggle; DINOv2's page has both."""
    page.goto(live_server + "/image?model=captioner-sat-cnn&sample=chelsea")
    wait_drawn(page)
    expect(page.locator("#status")).to_contain_text("14 x 14")
    expect(page.locator("#artifact-note")).to_be_hidden()
    expect(page.locator("#hide-artifacts")).to_be_hidden()
    n = draws(page)
    page.select_option("#model", "dinov2-s14")
    wait_drawn(page, n)
    expect(page.locator("#artifact-note")).to_be_visible()
    expect(page.locator("#artifact-count")).not_to_be_empty()
    expect(page.locator("#hide-artifacts")).to_be_visible()


def test_gallery_says_it_is_a_selection_and_a_missed_photo_opens_from_its_link(live_server: str, page: Page) -> None:
    """The gallery offers what the best captioner gets right, says so, and links every evaluation photo; a photo
    it leaves out (coffee: a miss in the evaluation) still opens from the /eval page's link, marked as a miss."""
    choice = json.loads((WEIGHTS_DIR.parents[1] / "reports" / "gallery.json").read_text())
    missed = [r["id"] for r in choice["photos"] if not r["offered"]]
    assert "coffee" in missed
    page.goto(live_server + "/image")
    note = page.locator("#gallery-note")
    expect(note).to_contain_text(f"{choice['captioner']} names", timeout=30_000)
    expect(note.locator("a")).to_have_attribute("href", "/eval#gallery-title")
    expect(page.locator('#samples button[data-sample="chelsea"]')).to_have_count(1)
    for name in missed:
        expect(page.locator(f'#samples button[data-sample="{name}"]')).to_have_count(0)
    page.goto(live_server + f"/image?model={choice['captioner']}&sample=coffee")
    expect(page.locator("#expect-note")).to_contain_text("Expected: cup", timeout=120_000)
    expect(page.locator("#expect-note")).to_contain_text("Not in the gallery")
