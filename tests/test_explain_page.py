"""The Explain view, head ablation and the most-important-heads table on the text page (headless Chromium,
marian-en-pt): attention beside three Captum attributions on the same token axis, with the agreement the
API reports; heads clicked off in the model view give the API's ablated output and a difference map."""

import json
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

TEXT = "The old black cat slept."


def test_explain_view_matches_the_attribution_api(live_server: str, page: Page) -> None:
    page.goto(live_server + f"/?model=marian-en-pt&text={TEXT}&view=explain&kind=cross&layer=1&head=mean")
    expect(page.locator("#explain-table tbody tr")).to_have_count(3, timeout=90_000)
    expect(page.locator("#explain-row option")).to_have_count(8)  # O velho gato preto dormi u . </s>
    page.select_option("#explain-row", "2")  # "gato"
    expect(page.locator("#explain-plot")).to_have_attribute("data-word", "▁gato", timeout=90_000)
    expect(page.locator("#status")).to_contain_text('Explained "▁gato"')
    drawn = np.asarray(page.evaluate("() => document.querySelector('#explain-plot').data[0].z"), dtype=np.float64)
    assert drawn.shape == (4, 10)
    np.testing.assert_allclose(drawn.sum(axis=1), 1, atol=2e-3)  # attention and |attribution| shares
    body = {"model": "marian-en-pt", "text": TEXT, "target": 2, "method": "integrated_gradients",
            "readout": {"kind": "mean", "layer": 1}}  # fmt: skip
    api = page.request.post(live_server + "/api/attribution/text", data=body).json()
    ig = np.abs(np.asarray(api["maps"][0]["values"][0]))
    np.testing.assert_allclose(drawn[1], ig / ig.sum(), atol=2e-3)  # float16 on the wire
    np.testing.assert_allclose(drawn[0], api["maps"][1]["values"][0], atol=2e-3)
    row = page.locator("#explain-table tr[data-method='integrated_gradients'] td")
    expect(row.nth(0)).to_have_text(f"{api['agreement'][0]['spearman']:.2f}")
    expect(page.locator("#explain-note")).to_contain_text("mean of layer 1")
    # The word's deletion curves: attention, the three methods, random; areas as the API computes them.
    expect(page.locator("#explain-curve polyline")).to_have_count(5)
    with_curves = {**body, "deletion": True}
    curves = page.request.post(live_server + "/api/attribution/text", data=with_curves).json()["deletion"]
    labels = page.locator("#explain-curve .curve-label").all_text_contents()
    assert labels[0] == f"attention (mean of layer 1): area {curves['orders'][0]['comprehensiveness_auc']:.2f}"
    assert labels[-1].startswith("random: area") and labels[1].startswith("integrated gradients: area")


def test_heads_switched_off_from_the_model_view(live_server: str, page: Page) -> None:
    page.goto(live_server + f"/?model=marian-en-pt&text={TEXT}&kind=cross&layer=1&head=mean")
    expect(page.locator("#grid .thumb[data-loaded='true']")).to_have_count(16, timeout=90_000)  # cross: 2 x 8
    expect(page.locator("#ablation")).to_be_visible()
    page.check("#ablate-mode")
    for head in (5, 1):
        page.click(f"#grid .thumb[data-kind='cross'][data-layer='0'][data-head='{head}']")
    expect(page.locator("#grid .thumb.ablated")).to_have_count(2)
    expect(page.locator("#ablate-count")).to_contain_text("2 heads marked off")
    expect(page.locator("#heatmap")).to_have_attribute("data-head", "mean")  # marking does not open a head
    page.click("#ablate-run")
    expect(page.locator("#ablate-result")).to_contain_text("Without 2 heads", timeout=90_000)
    api = page.request.post(live_server + "/api/attention/text", data={
        "model": "marian-en-pt", "text": TEXT, "ablate": [["cross", 0, 5], ["cross", 0, 1]]}).json()
    expect(page.locator("#ablate-result")).to_contain_text(f"Without 2 heads: {api['output_text']}")
    if page.locator("#ablate-diff").is_visible():  # same tokens: layer 1 moved, because layer 0 lost two heads
        assert float(page.get_attribute("#ablate-diff", "data-max-difference") or 0) > 1e-3

    page.click("#importance summary")
    page.click("#rank-run")
    expect(page.locator("#rank-table tbody tr")).to_have_count(12, timeout=120_000)
    first = page.locator("#rank-table tbody tr").first.locator("button")
    kind, layer, head = (first.get_attribute(k) for k in ("data-kind", "data-layer", "data-head"))
    first.click()
    expect(page.locator("#heatmap")).to_have_attribute("data-head", str(head))
    expect(page.locator("#heatmap")).to_have_attribute("data-layer", str(layer))
    expect(page.locator("#heatmap")).to_have_attribute("data-kind", str(kind))


def test_minilm_explains_a_sentence_similarity(live_server: str, page: Page) -> None:
    page.goto(live_server + "/?model=minilm-l6&text=A+man+is+playing+a+guitar.&view=explain&layer=5&head=rollout")
    expect(page.locator("#explain-compare-field")).to_be_visible(timeout=90_000)
    expect(page.locator("#explain-row-field")).to_be_hidden()
    expect(page.locator("#explain-table tbody tr")).to_have_count(3, timeout=90_000)
    expect(page.locator("#explain-plot")).to_have_attribute("data-word", "similarity to the second sentence")
    drawn = np.asarray(page.evaluate("() => document.querySelector('#explain-plot').data[0].z"), dtype=np.float64)
    assert drawn.shape == (4, 9)  # [CLS] a man is playing a guitar . [SEP]
    expect(page.locator("#explain-note")).to_contain_text("cosine")
    expect(page.locator("#explain-note")).to_contain_text("rollout")


def test_incomplete_integrated_gradients_are_computed_again_with_more_steps(live_server: str, page: Page) -> None:
    """A word whose 32-step integrated gradients miss completeness (the API says so) is explained with 128 steps,
    and the table says what the first try gave; the drawn row is the 128-step answer."""
    text = "The agreement on the European Economic Area was signed in August 1992."
    body = {"model": "marian-en-pt", "text": text, "target": 0, "method": "integrated_gradients",
            "readout": {"kind": "mean", "layer": 1}}  # fmt: skip
    first = page.request.post(live_server + "/api/attribution/text", data=body).json()
    assert first["steps"] == 32 and first["agreement"][0]["complete"] is False  # the case this test is about
    again = page.request.post(live_server + "/api/attribution/text", data={**body, "steps": 128}).json()
    assert again["agreement"][0]["complete"] is True
    page.goto(live_server + f"/?model=marian-en-pt&text={text}&view=explain&kind=cross&layer=1&head=mean")
    expect(page.locator("#explain-plot")).to_have_attribute("data-word", "▁O", timeout=120_000)
    cell = page.locator("#explain-table tr[data-method='integrated_gradients'] td").nth(3)
    g = first["agreement"][0]
    off = abs(g["delta"] / g["change"]) * 100
    expect(cell).to_contain_text(f"with 128 steps (within 5%); 32 steps were off by {off:.1f}%")
    drawn = np.asarray(page.evaluate("() => document.querySelector('#explain-plot').data[0].z"), dtype=np.float64)
    ig = np.abs(np.asarray(again["maps"][0]["values"][0]))
    np.testing.assert_allclose(drawn[1], ig / ig.sum(), atol=2e-3)
    with page.expect_download() as info:  # the JSON export says which answer the row is and what the first try gave
        page.click("#export-main [data-export='json']")
    saved = json.loads(Path(info.value.path()).read_text())
    assert [a["steps"] for a in saved["agreement"]] == [128, None, None]
    assert saved["agreement"][0]["first_try"]["steps"] == 32
    assert saved["agreement"][0]["first_try"]["delta"] == pytest.approx(g["delta"], rel=1e-6)


def test_image_explain_and_ablation(live_server: str, page: Page) -> None:
    """captioner-transformer on a held-out scene: the Explain panel draws attention and three attributions of
    the selected word with the API's agreement; checking heads off gives the API's ablated caption."""
    from models.data.scenes import scene_png
    from tests.test_captioner import first_test_scene

    png = scene_png(first_test_scene(2))
    page.goto(live_server + "/image")
    expect(page.locator("#model option[value='captioner-transformer']")).to_have_count(1)
    page.select_option("#model", "captioner-transformer")
    page.set_input_files("#file", {"name": "scene.png", "mimeType": "image/png", "buffer": png})
    expect(page.locator("#status")).to_contain_text("Caption of", timeout=90_000)
    expect(page.locator("#image-explain")).to_be_visible()
    page.click("#image-explain summary")
    page.locator("#caption-words .caption-word").nth(1).click()
    page.click("#image-explain-run")
    expect(page.locator("#image-explain-table tbody tr")).to_have_count(3, timeout=120_000)
    expect(page.locator("#image-explain-panels canvas")).to_have_count(4)
    expect(page.locator("#image-explain-curve polyline")).to_have_count(5)
    word = page.locator("#caption-words .caption-word").nth(1).inner_text()
    expect(page.locator("#image-explain-panels")).to_have_attribute("data-word", word)
    api = page.request.post(live_server + "/api/attribution/image", multipart={
        "model": "captioner-transformer", "method": "integrated_gradients", "target": "1",
        "readout_layer": page.input_value("#layer"),
        "file": {"name": "scene.png", "mimeType": "image/png", "buffer": png}}).json()  # fmt: skip
    spearman = next(g for g in api["agreement"] if g["row"] == 1)["spearman"]
    row = page.locator("#image-explain-table tr[data-method='integrated_gradients'] td")
    expect(row.nth(0)).to_have_text(f"{spearman:.2f}")

    with page.expect_download() as info:
        page.click("#export-explain [data-export='npz']")
    panels = np.load(info.value.path())
    attention = [f for f in panels.files if f.startswith("attention")]
    assert len(attention) == 1 and panels[attention[0]].shape == (16, 16)
    np.testing.assert_allclose(panels[attention[0]].sum(), 1, atol=2e-3)
    assert len([f for f in panels.files if f.endswith("_raw")]) == 3 and panels["row_tokens"].shape == (16,)

    page.click("#image-ablation summary")
    expect(page.locator("#image-ablate-grid input")).to_have_count(3 * 4)
    for layer, head in ((2, 0), (2, 1), (2, 2), (2, 3)):
        page.check(f"#image-ablate-grid input[data-layer='{layer}'][data-head='{head}']")
    expect(page.locator("#image-ablate-run")).to_have_text("Run without the 4 checked heads")
    page.click("#image-ablate-run")
    expect(page.locator("#image-ablate-result")).to_contain_text("Without 4 heads", timeout=90_000)
    ablated = page.request.post(live_server + "/api/attention/image", multipart={
        "model": "captioner-transformer", "ablate": "[[2, 0], [2, 1], [2, 2], [2, 3]]",
        "file": {"name": "scene.png", "mimeType": "image/png", "buffer": png}}).json()  # fmt: skip
    expect(page.locator("#image-ablate-result")).to_have_attribute("data-caption", " ".join(ablated["output_tokens"]))
