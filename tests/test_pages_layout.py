"""Every page at desktop, laptop and phone widths, its privacy and its accessibility, in headless Chromium.

- no page scrolls sideways at 1400, 1024 or 390 px, with a result drawn where the page draws one;
- the menu collapses behind a button on phones and every link is reachable;
- nothing on any page asks for anything from another origin, and no chart offers "Share chart";
- axe-core (from npm, `make axe`, injected by the test only) finds no serious or critical violation.
"""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from app.api.routes.pages import PAGES as SITE_PAGES
from tests.browser import ARTIFACTS

pytestmark = pytest.mark.browser

SIZES = ((1400, 1000), (1024, 768), (390, 844))
AXE = sorted((Path(__file__).resolve().parents[1] / "build" / "axe").glob("axe-*.min.js"))


def ready_text(page: Page) -> None:
    expect(page.locator("#grid .thumb[data-loaded='true']")).to_have_count(72, timeout=60_000)


def ready_compare(page: Page) -> None:
    expect(page.locator("#compare-status")).to_have_text("2 models compared.", timeout=60_000)


def ready_image(page: Page) -> None:
    expect(page.locator("#overlay")).to_have_attribute("data-drawn", "1", timeout=60_000)


def ready_eval(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-eval-ready", "true", timeout=30_000)


def ready_docs(page: Page) -> None:
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)


def ready_loaded(page: Page) -> None:
    page.wait_for_load_state("networkidle", timeout=60_000)


DRAWN = {  # page path -> (address with a result to draw, wait until drawn); other pages: until loaded
    "/": ("/?model=minilm-l6&text=The+cat+sat+on+the+mat+and+looked+out+of+the+window.", ready_text),
    "/compare": ("/compare?models=rnn-additive-en-es,rnn-dot-en-es&text=we+are+eating+bread", ready_compare),
    "/image": ("/image?model=dinov2-s14&sample=chelsea", ready_image),
    "/eval": ("/eval", ready_eval),
    "/docs": ("/docs", ready_docs),
}
PAGES = {name: DRAWN.get(path, (path, ready_loaded)) for path, _template, name, _summary in SITE_PAGES}

OVERFLOW = "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"


def overflow_after_resize(page: Page, width: int, height: int) -> dict[str, int]:
    """Resize, let the page's own layout (and Plotly's resize handler) settle, then measure."""
    page.set_viewport_size({"width": width, "height": height})
    sizes: dict[str, int] = page.evaluate(OVERFLOW)
    for _ in range(20):  # Plotly re-lays out its charts a moment after the resize event
        if sizes["scroll"] <= sizes["inner"]:
            break
        page.wait_for_timeout(150)
        sizes = page.evaluate(OVERFLOW)
    return sizes


@pytest.mark.parametrize("name", list(PAGES))
def test_no_page_scrolls_sideways(live_server: str, browser: Browser, name: str, problems: list[str]) -> None:
    path, ready = PAGES[name]
    for width, height in SIZES:  # a fresh load at each size: first paint at that width, then a resize
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(live_server + path)
        ready(page)
        sizes = page.evaluate(OVERFLOW)
        assert sizes["scroll"] <= sizes["inner"], f"{name} at {width} px: {sizes}"
        if width == 390:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"phone_{name}.png"), full_page=True)
        context.close()
    # And one window resized through all three sizes with the result kept.
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(live_server + path)
    ready(page)
    for width, height in SIZES[1:]:
        sizes = overflow_after_resize(page, width, height)
        assert sizes["scroll"] <= sizes["inner"], f"{name} resized to {width} px: {sizes}"
    context.close()
    assert problems == []


def test_menu_collapses_on_a_phone(live_server: str, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(live_server + "/eval")
    links = page.locator("nav[aria-label='Main'] a")
    toggle = page.locator(".nav-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(links.first).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    for i in range(links.count()):
        expect(links.nth(i)).to_be_visible()
        box = links.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert links.count() == len(SITE_PAGES)
    page.set_viewport_size({"width": 1400, "height": 1000})
    expect(toggle).to_be_hidden()
    context.close()


def test_nothing_leaves_the_origin_and_no_share_button(live_server: str, page: Page) -> None:
    origin = urlsplit(live_server).netloc
    outside: list[str] = []

    def check(url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob"):
            return
        if parts.netloc != origin:
            outside.append(url)

    page.on("request", lambda r: check(r.url))
    for path, ready in PAGES.values():
        page.goto(live_server + path)
        ready(page)
        # Plotly's toolbar appears on hover; whatever it holds, "Share chart" is not among it.
        for chart in page.locator(".js-plotly-plot").all()[:3]:
            chart.hover()
        assert page.locator(".modebar-btn[data-title^='Share'], [data-attr='sendChartToCloud']").count() == 0
    assert outside == [], f"requests that left {origin}: {outside}"


@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_no_serious_violation(live_server: str, browser: Browser, name: str) -> None:
    assert AXE, "axe-core is missing: run `make axe` (npm) first"
    path, ready = PAGES[name]
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)  # to inject axe
    page = context.new_page()
    page.goto(live_server + path)
    ready(page)
    page.add_script_tag(path=str(AXE[-1]))
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`)"""
    )
    context.close()
    assert found == [], f"{name}: {found}"
