"""The /heads page in headless Chromium, on a stored analysis written in the test (a stand-in model, no
training): the grid draws, the statistic and head pickers redraw it, the top sentences link to the text
page as text (never markup), and the page has no horizontal scroll at 1400, 1024 and 390 px."""

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from app.core.config import Settings
from app.main import create_app
from app.scale.corpus import Corpus
from app.scale.shards import analyse_shard
from app.scale.summary import write_outputs
from tests.browser import ARTIFACTS
from tests.conftest import serve
from tests.test_analyze import HashModel

HOSTILE = "<img src=x onerror=alert(1)> & friends"
CORPUS = Corpus("toy", "toy sentences", ("a b c d", "the cat sat on the mat .", HOSTILE, "x y", "one two three"))

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def heads_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reports = tmp_path_factory.mktemp("reports")
    folder = reports / "heads" / "toy-model-toy"
    folder.mkdir(parents=True)
    ids = list(range(len(CORPUS.sentences)))
    write_outputs("toy-model", CORPUS, [analyse_shard(HashModel(), ids, list(CORPUS.sentences))], folder)
    with serve(create_app(Settings(reports_dir=reports))) as url:
        yield url


def test_grid_draws_and_pickers_redraw(heads_server: str, page: Page) -> None:
    page.goto(heads_server + "/heads")
    grid = page.locator("#heads-grid")
    expect(grid).to_have_attribute("data-drawn", "toy-model/self/prev")
    expect(grid.locator(".heatmaplayer, canvas").first).to_be_attached()
    expect(page.locator("#heads-top li")).not_to_have_count(0)
    clusters = page.locator("#heads-clusters li")
    expect(clusters).not_to_have_count(0)
    named = sorted(h for text in clusters.all_inner_texts() for h in text.split(": ", 1)[1].split(", "))
    assert named == ["L0H0", "L0H1", "L1H0", "L1H1"]  # every head in exactly one cluster
    expect(page.locator("#heads-clusters mark")).to_have_text("L0H0")  # the selected head
    page.select_option("#heads-stat", "entropy")
    expect(grid).to_have_attribute("data-drawn", "toy-model/self/entropy")
    page.select_option("#heads-layer", "1")
    page.select_option("#heads-head", "1")
    expect(page.locator("#top-title")).to_have_text('Sentences where layer 1 head 1 shows "entropy" most')
    assert parse_qs(urlparse(page.url).query) == {
        "analysis": ["toy-model-toy"], "kind": ["self"], "stat": ["entropy"], "layer": ["1"], "head": ["1"]
    }  # fmt: skip
    # A statistic that never applies to self-attention (monotonicity) is not offered.
    assert "monotonicity" not in page.locator("#heads-stat option").all_inner_texts()
    page.screenshot(path=str(ARTIFACTS / "heads_page.png"), full_page=True)


def test_top_sentences_are_text_links_to_the_text_page(heads_server: str, page: Page) -> None:
    page.goto(heads_server + "/heads?analysis=toy-model-toy&stat=punct&layer=0&head=0")
    expect(page.locator("#heads-grid")).to_have_attribute("data-drawn", "toy-model/self/punct")
    links = page.locator("#heads-top a")
    expect(links).not_to_have_count(0)
    hostile = page.locator("#heads-top a", has_text=HOSTILE)
    for stat in ("special", "first", "entropy", "self", "prev", "next", "distance", "punct"):
        page.select_option("#heads-stat", stat)
        if hostile.count():
            break
    expect(hostile).to_have_count(1)  # shown as text: the markup never became an element
    assert page.locator("#heads-top img").count() == 0
    query = parse_qs(urlparse(hostile.get_attribute("href") or "").query)
    assert query["model"] == ["toy-model"] and query["text"] == [HOSTILE] and query["kind"] == ["self"]


@pytest.mark.parametrize("width", [1400, 1024, 390])
def test_no_horizontal_scroll(heads_server: str, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(heads_server + "/heads")
    expect(page.locator("#heads-grid")).to_have_attribute("data-drawn", "toy-model/self/prev")
    page.screenshot(path=str(ARTIFACTS / f"heads_page_{width}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{overflow} px of horizontal scroll at {width} px"


def test_unknown_analysis_in_the_link_falls_back(heads_server: str, page: Page) -> None:
    page.goto(heads_server + "/heads?analysis=nope&kind=cross&stat=bogus&layer=9&head=-1")
    expect(page.locator("#heads-grid")).to_have_attribute("data-drawn", "toy-model/self/special")
    expect(page.locator("#heads-error")).to_be_hidden()
