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


@pytest.mark.parametrize(
    ("body", "fragment"),
    [({"text": "hi"}, "at least two words"), ({"text": ""}, "text"), ({"text": "a b", "seed": -1}, "seed")],
)
def test_permutation_bad_input(client: TestClient, body: dict[str, object], fragment: str) -> None:
    r = client.post("/api/concepts/permutation", json=body)
    assert r.status_code == 422 and fragment in r.json()["detail"]


def test_positional_encoding_and_warmup(client: TestClient) -> None:
    pe = client.get("/api/concepts/positional-encoding?length=3&d_model=4").json()
    assert pe["values"][0] == [0.0, 1.0, 0.0, 1.0]
    assert pe["values"][1][0] == pytest.approx(0.841471)
    assert client.get("/api/concepts/positional-encoding?d_model=3").status_code == 422
    lr = client.get("/api/concepts/warmup?d_model=256&warmup=100&steps=1000").json()
    peak = max(lr["lr"])
    assert lr["step"][lr["lr"].index(peak)] == pytest.approx(100, abs=3)
    assert client.get("/api/concepts/warmup?warmup=0").status_code == 422


def test_concepts_page(live_server: str, page: Page) -> None:
    page.goto(live_server + "/concepts")
    verdict = page.locator("#perm-verdict")
    expect(verdict).to_contain_text("Without positions", timeout=30_000)
    assert float(verdict.get_attribute("data-difference") or "1") < 1e-4
    page.check("#use-positions")
    expect(verdict).to_contain_text("With positions", timeout=30_000)
    assert float(verdict.get_attribute("data-difference") or "0") > 0.01
    expect(page.locator("#heads-grid .head-cell")).to_have_count(12)
    # the shipped transformer-en-es decoder: nothing above the diagonal, in any head of layer 0
    expect(page.locator("#mask-plot")).to_have_attribute("data-above-diagonal", "0", timeout=30_000)
    expect(page.locator("#mask-note")).to_contain_text("translated it as")
    expect(page.locator("#mask-plot .main-svg").first).to_be_visible()
    expect(page.locator("#pe-plot .main-svg").first).to_be_visible()
    expect(page.locator("#lr-plot .scatterlayer .trace")).to_have_count(1)
    page.screenshot(path="artifacts/concepts_page.png", full_page=True)
