"""Export from the text page (headless Chromium): PNG, SVG, CSV, JSON and .npz of the map the view shows, each
equal to the drawn heatmap's numbers, with the tokens as text and a caption line (model, input, view, date)."""

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS

pytestmark = pytest.mark.browser

TEXT = 'The <b>cat</b> sat, "quoted" =1+1.'


def _download(page: Page, fmt: str, tmp_path: Path) -> Path:
    with page.expect_download() as info:
        page.click(f"[data-export='{fmt}']")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_every_format_matches_the_drawn_map(live_server: str, page: Page, tmp_path: Path) -> None:
    page.goto(live_server + "/?model=minilm-l6")
    page.fill("#text", TEXT)
    page.press("#text", "Enter")
    expect(page.locator("#status")).to_contain_text("72 maps", timeout=60_000)
    page.select_option("#layer", "4")
    page.select_option("#head", "mean")
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 4, mean over heads (self-attention)")
    drawn = np.asarray(page.evaluate("() => document.querySelector('#heatmap').data[0].z"), dtype=np.float64)
    body = {"model": "minilm-l6", "text": TEXT, "layers": [4], "heads": [0]}
    answer = page.request.post(live_server + "/api/attention/text", data=body).json()
    rows, cols = answer["maps"][0]["row_tokens"], answer["maps"][0]["col_tokens"]

    svg = _download(page, "svg", tmp_path)
    assert svg.name == "attnviz-minilm-l6-self-L4-mean.svg"
    root = ET.parse(svg).getroot()  # parses: every token was escaped
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "row"] == rows
    assert [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "col"] == cols
    assert any(t and t.startswith('minilm-l6 | "The <b>cat</b>') and "layer 4, mean over heads" in t for t in texts)

    png = _download(page, "png", tmp_path).read_bytes()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "export.png").write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000

    lines = _download(page, "csv", tmp_path).read_text().splitlines()
    assert lines[0].split(",")[0] == "query" and len(lines) == 1 + len(rows)
    import csv

    parsed = list(csv.reader(io.StringIO("\n".join(lines))))
    assert parsed[0][1:] == [("'" + c) if c[:1] in "=+-@" else c for c in cols]  # no spreadsheet formulas
    np.testing.assert_allclose([[float(v) for v in r[1:]] for r in parsed[1:]], drawn, atol=1e-6)

    data = json.loads(_download(page, "json", tmp_path).read_text())
    assert data["model"] == "minilm-l6" and data["text"] == TEXT and data["map"]["head"] == "mean"
    np.testing.assert_allclose(data["map"]["values"], drawn, atol=1e-6)
    assert data["map"]["row_tokens"] == rows

    npz = np.load(_download(page, "npz", tmp_path))
    assert npz["values"].dtype == np.float32 and npz["values"].shape == drawn.shape
    np.testing.assert_allclose(npz["values"], drawn, atol=1e-6)
    assert list(npz["row_tokens"]) == rows and list(npz["col_tokens"]) == cols
