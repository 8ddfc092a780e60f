"""The "How attention works" API and page."""

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect


def test_permutation_without_positions_is_equivariant(client: TestClient) -> None:
    r = client.post("/api/concepts/permutation", json={"text": "the quick brown fox jumps over the dog", "seed": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["tokens"][0] == "[CLS]" and body["shuffled_tokens"][-1] == "[SEP]"
    assert body["order"] != list(range(len(body["order"])))
    assert [body["tokens"][i] for i in body["order"]] == body["shuffled_tokens"]
    assert len(body["original"]) == 6 and max(body["max_difference"]) < 1e-4
    with_positions = client.post(
        "/api/concepts/permutation",
        json={"text": "the quick brown fox jumps over the dog", "seed": 3, "use_positions": True},
    ).json()
    assert max(with_positions["max_difference"]) > 0.01


def test_permutation_of_one_word_moves_nothing_and_says_so(client: TestClient) -> None:
    r = client.post("/api/concepts/permutation", json={"text": "0"})  # the schema allows it: answered, not refused
    assert r.status_code == 200
    body = r.json()
    assert body["tokens"] == body["shuffled_tokens"] == ["[CLS]", "0", "[SEP]"] and body["order"] == [0, 1, 2]
    assert max(body["max_difference"]) < 1e-6 and "two words" in body["note"]
    assert client.post("/api/concepts/permutation", json={"text": "a b"}).json()["note"] is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"text": ""}, "text"),
        ({"text": " \t"}, "empty"),
        ({"text": "a b", "seed": -1}, "seed"),
        ({"text": "a b", "seed": False}, "seed"),  # the schema says integer: a boolean is not one
        ({"text": "a b", "seed": "3"}, "seed"),
        ({"text": "a b", "use_positions": 1}, "use_positions"),
    ],
)
def test_permutation_bad_input(client: TestClient, body: dict[str, object], fragment: str) -> None:
    r = client.post("/api/concepts/permutation", json=body)
    assert r.status_code == 422 and fragment in r.json()["detail"]


def test_permutation_takes_a_whole_float_as_the_integer_it_is(client: TestClient) -> None:
    body = {"text": "the quick brown fox", "seed": 3}
    r = client.post("/api/concepts/permutation", json={**body, "seed": 3.0})
    assert r.status_code == 200
    assert r.json()["order"] == client.post("/api/concepts/permutation", json=body).json()["order"]


def test_positional_encoding_and_warmup(client: TestClient) -> None:
    pe = client.get("/api/concepts/positional-encoding?length=3&d_model=4").json()
    assert pe["values"][0] == [0.0, 1.0, 0.0, 1.0]
    assert pe["values"][1][0] == pytest.approx(0.841471)
    assert client.get("/api/concepts/positional-encoding?d_model=3").status_code == 422
    lr = client.get("/api/concepts/warmup?d_model=256&warmup=100&steps=1000").json()
    peak = max(lr["lr"])
    assert lr["step"][lr["lr"].index(peak)] == pytest.approx(100, abs=3)
    assert client.get("/api/concepts/warmup?warmup=0").status_code == 422


PANELS = ("bottleneck", "bahdanau", "scores", "qkv", "heads", "mask", "cross", "pe", "caption", "vit", "lr")
WIDTHS = (1400, 1024, 390)
FIGURES = "#bottleneck-plot #bahdanau-scores #bahdanau-weights #bahdanau-context #sat-plot #sat-example".split() + (
    "#mh-weights #mh-outputs #mh-concat #mask-plot #cross-plot #pe-plot #lr-plot".split()
)


def open_concepts(page: Page, url: str) -> None:
    """Open /concepts and wait until every panel has drawn (the captioner and DINOv2 load on first use)."""
    page.goto(url)
    for name in PANELS:
        expect(page.locator(f"#panel-{name}")).to_have_attribute("data-state", "drawn", timeout=120_000)


def horizontal_overflow(page: Page) -> int:
    """How many px the page is wider than the window, once Plotly has followed the resize (0 = fits)."""
    overflow = 0
    for _ in range(20):
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if overflow <= 0:
            return 0
        page.wait_for_timeout(250)
    return int(overflow)


def test_concepts_page(live_server: str, page: Page) -> None:
    foreign: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((live_server, "data:")) else foreign.append(r.url))
    open_concepts(page, live_server + "/concepts")
    verdict = page.locator("#perm-verdict")
    expect(verdict).to_contain_text("Without positions", timeout=30_000)
    assert float(verdict.get_attribute("data-difference") or "1") < 1e-4
    page.check("#use-positions")
    expect(verdict).to_contain_text("With positions", timeout=30_000)
    assert float(verdict.get_attribute("data-difference") or "0") > 0.01
    # every panel names its idea's formula and draws its figures
    expect(page.locator("section.concept p.formula")).to_have_count(len(PANELS))
    for plot in FIGURES:
        expect(page.locator(f"{plot} .main-svg, {plot} canvas").first).to_be_visible()
    expect(page.locator("#bahdanau-steps button[aria-pressed=true]")).to_have_count(1)
    assert page.locator("#score-grid .score-cell[data-available=true] .main-svg").count() >= 2
    expect(page.locator("#heads-grid .head-cell")).to_have_count(12)
    # colour bars carry real tick labels (not a lone "0")
    ticks = page.locator("#cross-plot .colorbar .cbaxis text").all_text_contents()
    assert len(ticks) >= 3 and len(set(ticks)) == len(ticks), ticks
    # the shipped transformer-en-es decoder: nothing above the diagonal, in any head of the layer
    expect(page.locator("#mask-plot")).to_have_attribute("data-above-diagonal", "0")
    expect(page.locator("#mask-note")).to_contain_text("translated it as")
    assert int(page.locator("#mask-plot").get_attribute("data-rows") or "99") <= 40
    for canvas in ("#caption-canvas", "#vit-cls", "#vit-rollout"):
        expect(page.locator(canvas)).to_have_attribute("data-drawn", "1")
    # a caption word and a decoder step are picked by click (buttons: keyboard too)
    page.locator("#caption-words button").last.click()
    expect(page.locator("#caption-words button").last).to_have_attribute("aria-pressed", "true")
    page.locator("#bahdanau-steps button").nth(1).click()
    expect(page.locator("#bahdanau-note")).to_contain_text("Step 1:", timeout=30_000)
    page.locator("#bahdanau-steps button").nth(2).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#bahdanau-note")).to_contain_text("Step 2:", timeout=30_000)
    expect(page.locator("#bahdanau-steps button").nth(2)).to_have_attribute("aria-pressed", "true")
    page.screenshot(path="artifacts/concepts_page.png", full_page=True)
    assert foreign == []


def test_concepts_error_replaces_the_result_and_the_url_follows(
    live_server: str, page: Page, problems: list[str]
) -> None:
    open_concepts(page, live_server + "/concepts")
    long_text = " ".join(["word"] * 60)
    page.fill("#concept-text", long_text)
    page.click("#concept-run")
    bahdanau = page.locator("#panel-bahdanau")
    expect(bahdanau).to_have_attribute("data-state", "error", timeout=60_000)
    expect(bahdanau.locator(".panel-error")).to_contain_text("at most")
    expect(page.locator("#bahdanau-scores .main-svg")).to_have_count(0)
    expect(page.locator("#bahdanau-steps button")).to_have_count(0)
    assert "text=word" in page.url
    page.fill("#concept-text", "God is love.")
    page.click("#concept-run")
    expect(bahdanau).to_have_attribute("data-state", "drawn", timeout=60_000)
    expect(bahdanau.locator(".panel-error")).to_be_hidden()
    page.goto(page.url)  # the link reopens the same sentence
    expect(page.locator("#concept-text")).to_have_value("God is love.")
    problems[:] = [p for p in problems if "status of 422" not in p]  # the too-long sentence, answered as expected


def test_concepts_fits_every_width(live_server: str, page: Page) -> None:
    open_concepts(page, live_server + "/concepts")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert horizontal_overflow(page) == 0, f"/concepts is wider than a {width} px window"
    page.screenshot(path="artifacts/concepts_phone.png", full_page=True)
