"""Export from the text page (headless Chromium): PNG, SVG, CSV, JSON and .npz of the map the view shows, each
equal to the drawn heatmap's numbers, with the tokens as text and a caption line (model, input, view, date)."""

import io
import json
import re
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
        page.click(f"#export-main [data-export='{fmt}']")
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


def _download_from(page: Page, group: str, fmt: str, tmp_path: Path) -> Path:
    with page.expect_download() as info:
        page.click(f"{group} [data-export='{fmt}']")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return path


SVG_NS = "{http://www.w3.org/2000/svg}"


def test_head_view_and_model_view_export(live_server: str, page: Page, tmp_path: Path) -> None:
    """The head view exports its own drawing (token labels as SVG text, the caption line) and the drawn heads'
    maps; the model view exports every layer and head, equal to the API's maps."""
    page.goto(live_server + "/?model=minilm-l6")
    page.fill("#text", "The cat sat on the mat.")
    page.press("#text", "Enter")
    expect(page.locator("#status")).to_contain_text("72 maps", timeout=60_000)
    page.select_option("#layer", "2")
    page.select_option("#head", "5")
    page.check("input[name='view'][value='heads']")
    expect(page.locator("#head-lines svg")).to_be_visible()
    answer = page.request.post(live_server + "/api/attention/text",
                               data={"model": "minilm-l6", "text": "The cat sat on the mat."}).json()  # fmt: skip
    by_key = {(m["layer"], m["head"]): np.asarray(m["values"], dtype=np.float64) for m in answer["maps"]}
    rows, cols = answer["maps"][0]["row_tokens"], answer["maps"][0]["col_tokens"]

    root = ET.parse(_download_from(page, "#export-main", "svg", tmp_path)).getroot()
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert [t for t in texts if t in rows][: len(rows)] == rows  # the query column, as text
    assert any(t and t.startswith('minilm-l6 | "The cat sat') and "layer 2, head 5" in t for t in texts)
    assert len(list(root.iter(f"{SVG_NS}line"))) > 0
    npz = np.load(_download_from(page, "#export-main", "npz", tmp_path))
    assert sorted(npz.files) == ["col_tokens", "head_5", "row_tokens"]
    np.testing.assert_allclose(npz["head_5"], by_key[(2, 5)], atol=1e-3)  # float16 on the wire
    csv_lines = _download_from(page, "#export-main", "csv", tmp_path).read_text().splitlines()
    assert csv_lines[0].startswith("head,query,") and len(csv_lines) == 1 + len(rows)

    expect(page.locator("#grid .thumb[data-loaded='true']")).to_have_count(72)
    grid = np.load(_download_from(page, "#export-grid", "npz", tmp_path))
    assert len([f for f in grid.files if f.startswith("self_L")]) == 72
    for layer, head in ((0, 0), (3, 7), (5, 11)):
        np.testing.assert_allclose(grid[f"self_L{layer}_H{head}"], by_key[(layer, head)], atol=1e-3)
    assert list(grid["row_tokens"]) == rows and list(grid["col_tokens"]) == cols
    grid_svg = ET.parse(_download_from(page, "#export-grid", "svg", tmp_path)).getroot()
    labels = {t.text for t in grid_svg.iter(f"{SVG_NS}text")}
    assert {"L0", "L5", "H0", "H11"} <= labels and len(list(grid_svg.iter(f"{SVG_NS}image"))) == 72
    png = _download_from(page, "#export-grid", "png", tmp_path).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(_download_from(page, "#export-grid", "json", tmp_path).read_text())
    assert len(data["maps"]) == 72 and data["maps"][0]["row_tokens"] == rows


def test_image_page_exports_and_saves_the_photo(live_server: str, page: Page, tmp_path: Path) -> None:
    """The image page exports the overlay (PNG, SVG with the caption line) and the grid map; Save stores the
    photo with the result, and the permanent link redraws the same map in a fresh page without asking the model."""
    from app.api.routes.samples import sample_jpeg

    page.goto(live_server + "/image")
    expect(page.locator("#model option[value='dinov2-s14']")).to_have_count(1)
    page.set_input_files("#file", {"name": "coffee.jpg", "mimeType": "image/jpeg", "buffer": sample_jpeg("coffee")})
    expect(page.locator("#status")).to_have_text("96 maps over 16 x 16 patches.", timeout=60_000)
    page.select_option("#head", "3")
    expect(page.locator("#map-caption")).to_contain_text("Layer 11, head 3:")
    answer = page.evaluate("() => null")  # the page's own numbers come through the downloads below
    del answer
    npz = np.load(_download_from(page, "#export-main", "npz", tmp_path))
    assert npz["values"].shape == (16, 16) and abs(float(npz["values"].sum()) - 1) < 0.2  # class token keeps some
    data = json.loads(_download_from(page, "#export-main", "json", tmp_path).read_text())
    np.testing.assert_allclose(npz["values"], data["map"]["values"], atol=1e-6)
    assert data["map"]["layer"] == 11 and data["map"]["head"] == 3 and data["model"] == "dinov2-s14"
    svg = ET.parse(_download_from(page, "#export-main", "svg", tmp_path)).getroot()
    texts = [t.text or "" for t in svg.iter(f"{SVG_NS}text")]
    assert any(t.startswith('dinov2-s14 | "coffee.jpg" | class token, layer 11, head 3') for t in texts), texts
    png = _download_from(page, "#export-main", "png", tmp_path).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000

    page.click("#save-result")
    expect(page.locator("#saved-url")).to_have_value(re.compile(r"/r/[A-Za-z0-9_-]{22}\?layer=11&head=3"))
    link = page.input_value("#saved-url")
    drawn = page.evaluate("() => document.querySelector('#overlay').dataset.drawn")
    assert drawn
    fresh = page.context.new_page()
    posts: list[str] = []
    fresh.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    fresh.goto(link)
    expect(fresh.locator("#status")).to_contain_text("Saved result of", timeout=60_000)
    expect(fresh.locator("#map-caption")).to_contain_text("Layer 11, head 3:")
    assert fresh.input_value("#model") == "dinov2-s14" and "/image?" in fresh.url and "result=" in fresh.url
    assert posts == []
    again = np.load(_download_from(fresh, "#export-main", "npz", tmp_path))
    np.testing.assert_array_equal(again["values"], npz["values"])
    size = fresh.evaluate("() => [document.querySelector('#overlay').width, document.querySelector('#overlay').height]")
    assert size == [640, 427]  # the stored photo has the upload's upright size
    fresh.close()


def test_compare_cards_export(live_server: str, page: Page, tmp_path: Path) -> None:
    page.goto(live_server + "/compare?models=marian-en-pt,transformer-en-es&text=we+are+eating+bread")
    expect(page.locator("#compare-status")).to_have_text("2 models compared.", timeout=60_000)
    card = ".compare-card[data-model='marian-en-pt']"
    npz = np.load(_download_from(page, card, "npz", tmp_path))
    data = json.loads(_download_from(page, card, "json", tmp_path).read_text())
    np.testing.assert_allclose(npz["values"], data["map"]["values"], atol=1e-6)
    np.testing.assert_allclose(npz["values"].sum(axis=1), 1, atol=2e-3)
    assert list(npz["row_tokens"]) == data["map"]["row_tokens"]
    svg = ET.parse(_download_from(page, card, "svg", tmp_path)).getroot()
    cols = [t.text for t in svg.iter(f"{SVG_NS}text") if t.get("class") == "col"]
    assert cols == data["map"]["col_tokens"]
