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
