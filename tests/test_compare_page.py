"""The compare view in headless Chromium: two tiny RNN models with the same weights and vocabulary
(identical tokens, so a difference map of exactly 0), and Marian next to them (different tokens)."""

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.main import create_app
from app.services.registry import ModelRegistry
from models.catalog import CATALOG, rnn_spec
from tests.browser import ARTIFACTS
from tests.conftest import serve
from tests.test_rnn_api import folders  # noqa: F401  (the tiny RNN folders fixture)


@pytest.fixture(scope="module")
def compare_server(folders: dict[str, Path]) -> Iterator[str]:  # noqa: F811
    twins = [
        dataclasses.replace(rnn_spec(name), loader_args=(str(folders["additive"]),), requires_files=())
        for name in ("additive", "dot")
    ]
    baseline = dataclasses.replace(rnn_spec("none"), loader_args=(str(folders["none"]),), requires_files=())
    with serve(create_app(registry=ModelRegistry([*CATALOG, *twins, baseline]))) as url:
        yield url


def test_compare_two_models_with_difference_map(compare_server: str, page: Page) -> None:
    page.goto(compare_server + "/compare")
    expect(page.locator("#model-picks input")).not_to_have_count(0)
    for box in page.locator("#model-picks input").all():
        box.set_checked(False)
    for model in ("rnn-additive-en-es", "rnn-dot-en-es", "marian-en-pt", "rnn-none-en-es"):
        page.check(f"#model-picks input[value='{model}']")
    page.fill("#compare-text", "we are eating bread")
    page.click("#compare-run")
    expect(page.locator("#compare-status")).to_have_text("4 models compared.", timeout=60_000)
    expect(page.locator(".compare-card:not(.difference)")).to_have_count(4)
    expect(page.locator(".compare-card[data-model='rnn-none-en-es'] .note")).to_contain_text("no attention")
    same = page.locator(".compare-card.difference[data-max-difference]")
    expect(same).to_have_count(1)  # the twin: same tokens
    assert float(same.get_attribute("data-max-difference") or "1") == 0.0
    expect(page.locator(".compare-card.difference")).to_have_count(1)  # Marian and the baseline pair with nobody
    assert page.locator(".compare-card[data-model='rnn-additive-en-es'] .xtick text").count() > 0
    assert "models=" in page.url
    page.screenshot(path=str(ARTIFACTS / "compare_page.png"), full_page=True)


def test_no_matching_tokens_is_said(compare_server: str, page: Page) -> None:
    page.goto(compare_server + "/compare?models=marian-en-pt,rnn-additive-en-es&text=we+are+eating+bread")
    expect(page.locator(".compare-card.difference")).to_contain_text("No two models produced the same tokens",
                                                                      timeout=60_000)


def test_compare_needs_two_models(compare_server: str, page: Page) -> None:
    page.goto(compare_server + "/compare")
    expect(page.locator("#model-picks input")).not_to_have_count(0)
    for box in page.locator("#model-picks input").all():
        box.set_checked(False)
    page.check("#model-picks input[value='marian-en-pt']")
    page.click("#compare-run")
    expect(page.locator("#compare-error")).to_have_text("Pick two or more models.")


def _answer(model: str, cols: list[str], rows: list[str], values: list[list[float]]) -> dict[str, object]:
    """An /api/attention/text answer with one cross-attention map (plain values)."""
    return {
        "model": model, "input_tokens": cols, "output_tokens": rows, "output_text": "comemos",
        "maps": [{"kind": "cross", "layer": 0, "head": 0, "shape": [len(rows), len(cols)], "row_tokens": rows,
                  "col_tokens": cols, "values": values}],
    }  # fmt: skip


def test_word_level_difference_when_only_the_merged_words_agree(compare_server: str, page: Page) -> None:
    """Two models that split the same words into different pieces: no token-level pair, but a difference map
    over the merged words (source pieces summed, target pieces averaged), with the values that merge gives."""
    import json

    answers = {
        "rnn-additive-en-es": _answer(
            "rnn-additive-en-es", ["▁we", "▁are", "▁eat", "ing", "</s>"], ["▁comemos", "</s>"],
            [[0.1, 0.1, 0.4, 0.3, 0.1], [0.2, 0.2, 0.2, 0.2, 0.2]],
        ),
        "rnn-dot-en-es": _answer(
            "rnn-dot-en-es", ["▁we", "▁are", "▁eating", "</s>"], ["▁come", "mos", "</s>"],
            [[0.1, 0.2, 0.6, 0.1], [0.3, 0.1, 0.5, 0.1], [0.25, 0.25, 0.25, 0.25]],
        ),
    }  # fmt: skip

    def fulfil(route) -> None:  # type: ignore[no-untyped-def]
        model = json.loads(route.request.post_data or "{}").get("model")
        route.fulfill(status=200, content_type="application/json", body=json.dumps(answers[model]))

    page.route("**/api/attention/text", fulfil)
    page.goto(compare_server + "/compare?models=rnn-additive-en-es,rnn-dot-en-es&text=we+are+eating")
    expect(page.locator("#compare-status")).to_have_text("2 models compared.", timeout=60_000)
    diff = page.locator(".compare-card.difference[data-level='words']")
    expect(diff).to_have_count(1)
    expect(diff).to_contain_text("Same words")
    # merged: additive "comemos" row [.1, .1, .7, .1]; dot's "come"+"mos" averaged [.2, .15, .55, .1];
    # the </s> rows [.2, .2, .4, .2] and [.25] * 4: the largest difference is 0.15 ("eating")
    assert float(diff.get_attribute("data-max-difference") or "0") == pytest.approx(0.15, abs=1e-6)
    expect(page.locator(".compare-card.difference[data-level='tokens']")).to_have_count(0)
