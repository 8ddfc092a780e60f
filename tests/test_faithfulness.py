"""models/evaluate/faithfulness.py on a tiny random Marian (no real model, no data files): per-row figures,
means, the report's tables and its answer paragraph."""

from types import SimpleNamespace

import torch

from models.contract import AttentionStack, TextAttentionOutput
from models.evaluate.faithfulness import CURVE_POINTS, explain_sentence, summarise
from models.evaluate.faithfulness_report import answer_paragraph, markdown
from models.explain.families import Explainable
from models.explain.marian import MarianScorer
from models.explain.readout import translation_rows
from models.nets.marian import EOS, MarianConfig, MarianTiny

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
    assert "For tiny (" in report["answer"] and "On our own models:" in report["answer"]
    text = markdown(report)
    assert "| attention rollout |" in text and "| rollout | feature_ablation |" in text
