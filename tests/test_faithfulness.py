"""models/evaluate/faithfulness.py on a tiny random Marian (no real model, no data files): per-row figures,
means, the report's tables and its answer paragraph; GET /api/reports/faithfulness and the /eval page's section."""

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from app.core.config import Settings
from app.main import create_app
from models.contract import AttentionStack, TextAttentionOutput
from models.evaluate.faithfulness import CURVE_POINTS, explain_sentence, summarise, updated_models
from models.evaluate.faithfulness_report import answer_paragraph, markdown
from models.explain.families import Explainable
from models.explain.marian import MarianScorer
from models.explain.readout import translation_rows
from models.nets.marian import EOS, MarianConfig, MarianTiny
from tests.conftest import serve

TINY = MarianConfig(vocab_size=24, d_model=16, n_heads=4, encoder_layers=2, decoder_layers=2, d_ffn=32)


def tiny_explainable(seed: int) -> Explainable:
    torch.manual_seed(seed)
    model = MarianTiny(TINY).eval()
    source = [4 + seed, 9, 7, 11, 13, EOS]
    with torch.inference_mode():
        run = model.greedy(source, torch.arange(24))
    scorer = MarianScorer(SimpleNamespace(model=model), source, run.output_ids, torch.arange(24))  # type: ignore[arg-type]
    src = tuple(f"s{i}" for i in range(len(source)))
    tgt = tuple(f"t{i}" for i in range(len(run.output_ids)))
    output = TextAttentionOutput(
        src,
        tgt,
        "x",
        (
            AttentionStack("encoder_self", run.encoder_attentions, src, src),
            AttentionStack("cross", run.cross_attentions, tgt, src),
        ),
    )
    return Explainable(
        score=scorer.log_probs,
        x=scorer.embeddings(),
        baseline=scorer.unknown_embeddings(),
        output=output,
        row_tokens=tgt,
        col_tokens=src,
        readout=lambda readout: translation_rows(output, readout),
        with_heads=lambda masks: scorer.log_probs(scorer.embeddings()),
        head_shapes={"encoder_self": (2, 4), "cross": (2, 4)},
        target="log-probability",
    )


def test_the_report_of_two_tiny_sentences() -> None:
    rows = [row for seed in (0, 1) for row in explain_sentence(tiny_explainable(seed), rows=2, steps=16, seed=seed)]
    assert 2 <= len(rows) <= 4
    orders = {"attention mean L0", "attention mean L1", "attention rollout", "random"}
    orders |= {"integrated_gradients", "input_x_gradient", "feature_ablation"}
    assert set(rows[0]["deletion"]) == orders
    for row in rows:
        for curve in row["deletion"].values():
            assert len(curve["comprehensiveness"]) == CURVE_POINTS
            assert abs(curve["comprehensiveness"][0]) < 1e-5  # nothing removed: no change
            assert abs(curve["sufficiency"][-1]) < 1e-5  # everything kept: no change
            # comprehensiveness with everything removed equals sufficiency with nothing kept: F(x) - F(baseline)
            assert abs(curve["comprehensiveness"][-1] - curve["sufficiency"][0]) < 1e-4
    summary = summarise(rows)
    assert summary["rows"] == len(rows) and 0.0 <= summary["ig_completeness_rate"] <= 1.0
    assert set(summary["agreement"]) == {
        f"{r} | {m}"
        for r in ("mean L0", "mean L1", "rollout")
        for m in ("integrated_gradients", "input_x_gradient", "feature_ablation")
    }
    report = {"models": {"tiny": {"sentences": 2, **summary}}, "settings_text": "tiny", "not_covered": "none"}
    report["answer"] = answer_paragraph(report)
    assert report["answer"].startswith("Does attention explain the output? On our own 1 model with attention: ")
    text = markdown(report)
    assert "| attention rollout |" in text and "| rollout | feature_ablation |" in text


def test_an_update_replaces_only_the_recomputed_models_and_refuses_other_settings() -> None:
    settings = {"rows": 2, "steps": 32, "segments": 4, "limit": 200, "scenes_of": {"c": 50}}
    existing = {"settings": {**settings, "cached_only": False}, "models": {"a": {"x": 1}, "b": {"x": 2}}}
    merged = updated_models(existing, settings, {"b": {"x": 3}, "new": {"x": 4}})
    assert merged == {"a": {"x": 1}, "b": {"x": 3}, "new": {"x": 4}}
    assert list(merged) == ["a", "b", "new"]
    with pytest.raises(ValueError, match="other steps"):
        updated_models(existing, {**settings, "steps": 16}, {"b": {"x": 3}})


# ---------------------------------------------------------------------------- the report on the /eval page
def tiny_report() -> dict:
    """A report of two tiny models in the real format: a Marian with attention and one without any."""
    models = {}
    for model_id, attention in (("tiny-marian", True), ("rnn-<b>none</b>", False)):
        rows = []
        for seed in (0, 1):
            explainable = tiny_explainable(seed)
            if not attention:
                output = explainable.output
                explainable = replace(explainable, output=replace(output, stacks=()))
            rows += explain_sentence(explainable, rows=2, steps=8, seed=seed)
        readouts = {"mean L0": "cross-attention of layer 0, mean over 4 heads"} if attention else {}
        models[model_id] = {"sentences": 2, "seconds_per_input": 0.5, "readouts": readouts, **summarise(rows)}
    report = {"models": models, "settings_text": "tiny settings", "not_covered": "nothing"}
    report["answer"] = answer_paragraph(report)
    return report


def test_reports_api_serves_the_faithfulness_report(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(reports_dir=tmp_path))) as client:
        missing = client.get("/api/reports/faithfulness")
        assert missing.status_code == 404 and "make eval" in missing.json()["detail"]
        assert client.get("/api/reports").json()["faithfulness"] is False
        (tmp_path / "faithfulness.json").write_text(json.dumps(tiny_report()))
        response = client.get("/api/reports/faithfulness")
        assert response.status_code == 200
        report = response.json()
        assert client.get("/api/reports").json()["faithfulness"] is True
        assert set(report["models"]) == {"tiny-marian", "rnn-<b>none</b>"}
        assert "On our own 1 model with attention" in report["answer"]
        assert report["models"]["rnn-<b>none</b>"]["agreement"] == {}  # no attention: deletion curves only
        assert "has no attention" in report["answer"]


@pytest.mark.browser
def test_eval_page_draws_the_faithfulness_report(page: Page, problems: list[str], tmp_path: Path) -> None:
    (tmp_path / "faithfulness.json").write_text(json.dumps(tiny_report()))
    with serve(create_app(Settings(reports_dir=tmp_path))) as url:
        page.goto(url + "/eval?faithfulness=rnn-<b>none</b>")
        rows = page.locator("#faithfulness-table tbody tr")
        expect(rows).to_have_count(2, timeout=30_000)
        expect(rows.nth(1).locator("th")).to_have_text("rnn-<b>none</b>")  # literal text, never markup
        assert rows.nth(1).locator("td").nth(3).text_content() == "–"  # no attention, no attention area
        agreement = page.locator("#agreement-table tbody tr")  # tiny-marian: mean L0, mean L1, rollout
        expect(agreement).to_have_count(3)
        expect(agreement.nth(0).locator("td").nth(0)).to_have_text("cross-attention of layer 0, mean over 4 heads")
        expect(page.locator("#faithfulness-answer")).to_contain_text("On our own 1 model with attention")
        # the address picks the model whose curves are drawn: no attention, so 3 methods + random
        expect(page.locator("#curve-model")).to_have_value("rnn-<b>none</b>")
        expect(page.locator("#comprehensiveness-plot")).to_have_attribute("data-traces", "4")
        page.select_option("#curve-model", "tiny-marian")
        expect(page.locator("#comprehensiveness-plot")).to_have_attribute("data-traces", "7")
        expect(page.locator("#sufficiency-plot")).to_have_attribute("data-traces", "7")
        assert "faithfulness=tiny-marian" in page.url
        legend = page.locator("#comprehensiveness-plot .legendtext").all_text_contents()
        assert legend[0] == "attention: cross-attention of layer 0, mean over 4 heads"
        assert "integrated gradients" in legend and "random order" in legend
        expect(page.locator("#faithfulness-note")).to_contain_text("tiny-marian: 2 inputs")
        page.locator("#faithfulness-title").scroll_into_view_if_needed()
        page.screenshot(path="artifacts/eval_faithfulness.png", full_page=True)
    # the other reports are not written here: the page logs their 404s and says how to write them
    problems[:] = [p for p in problems if "404" not in p]


def test_the_smooth_relu_diagnosis_swaps_every_relu_inside_its_block_only() -> None:
    from models.evaluate.ig_completeness import smooth_relu

    x = torch.tensor([-2.0, 0.0, 3.0])
    with smooth_relu(5.0):
        soft = torch.nn.functional.softplus(x, beta=5.0)
        assert torch.allclose(torch.relu(x), soft) and torch.allclose(x.clone().relu_(), soft)
    assert torch.equal(torch.relu(x), torch.tensor([0.0, 0.0, 3.0])) and torch.equal(x.clone().relu_(), torch.relu(x))
    with smooth_relu(None):
        assert torch.equal(torch.relu(x), torch.tensor([0.0, 0.0, 3.0]))
