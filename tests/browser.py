"""Headless Chromium for the browser tests: Debian's binary driven by Playwright.

These tests never skip: `make test` installs Chromium, and without it they fail loudly.
Pages must log no console error (forgive expected ones by clearing `problems`).
Screenshots land in artifacts/ for people to look at.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Quiet on a closed network: no background fetches, no updaters, no QUIC probes.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed: run `make test` (it installs Debian's chromium).")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def problems() -> list[str]:
    """Console errors and uncaught exceptions of the page; a test may forgive expected ones."""
    return []


@pytest.fixture
def page(browser: Browser, problems: list[str]) -> Iterator[Page]:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            problems.append(msg.text)

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: problems.append(str(exc)))
    yield pg
    context.close()
    assert problems == [], f"the page logged errors: {problems}"


def wait_for_url(page: Page, has: tuple[str, ...] = (), lacks: tuple[str, ...] = (), timeout_s: float = 5.0) -> None:
    """Waits until the address holds every part of `has` and none of `lacks` (a view switch writes it a moment
    after the redraw); fails naming the last address seen."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        url = page.url
        if all(p in url for p in has) and not any(p in url for p in lacks):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"address {url!r} should hold {has} and lack {lacks}")
        page.wait_for_timeout(50)
