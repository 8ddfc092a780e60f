"""Does attention explain the output? Agreement between attention and Captum attributions, and ERASER-style
deletion curves, over test sentences of every served translation model and held-out scenes of both captioners
-> reports/faithfulness.{json,md}.

Per input, `--rows` output tokens (drawn with a fixed seed, the final </s> left out) are explained:
- attributions: integrated gradients (`--steps` gradient points over `--segments` pieces of the path, completeness
  recorded), input x gradient, feature ablation,
  all against the <unk> baseline (models/explain/attribute.py);
- attention readouts: each cross-attention layer's mean over heads, and rollout where there is an encoder
  self-attention to roll out (models/explain/readout.py); an RNN's readout is its one attention row per step;
- agreement of every readout with every method: Spearman, Kendall tau, top-3 overlap (models/explain/agreement.py);
- deletion curves ordered by each readout, by each method's |attribution| and at random (seeded): the drop in
  the token's log-probability when the top-k inputs are replaced by the baseline (comprehensiveness, higher =
  the order found what the model needs) or are all that is kept (sufficiency, lower = better), read at
  CURVE_POINTS fractions of the inputs (k = round(f S), every k when S < 10), and their areas (trapezoid over
  k / S) (models/explain/deletion.py).
Inputs: marian-en-pt, transformer-en-es and the RNN translators (rnn-*-en-es, every variant with weights here;
the no-attention baseline has deletion curves of the attributions and random order only) read the English side
of data/bible_en_es/test.jsonl; marian-pt-en reads marian-en-pt's own Portuguese translations of the same verses
(no Portuguese test set ships here); captioner-transformer and captioner-sat read the held-out test scenes
(data/scenes, split "test"), their inputs being the 16 x 16 DINOv2 patch features (baseline and removal: that
patch's features of an empty canvas of the normalisation mean colour); captioner-sat-cnn reads the first 50 test
scenes through its 14 x 14 CNN grid (baseline and removal: all-zero features, models/explain/families.py).
Cost: every method explains the rows of an input together and the deletion curves of all orders run as a few
batched forwards (seconds per input on one core). Per-input results are cached in reports/.cache/faithfulness/
by the sha256 of the weights (and of their config.json), the input and the settings, so a rerun with a larger
--limit only computes the new inputs, and `--cached-only` writes the report from what is cached (stating the counts).
Run: make eval  (or .venv/bin/python -m models.evaluate.faithfulness --limit 200 [--scenes N]
[--scenes-of captioner-sat-cnn=50] [--models ...]).
"""

import argparse
import hashlib
import json
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.contract import ImageAttentionOutput
from models.evaluate.faithfulness_inputs import (
    MAX_SOURCE_TOKENS,
    Translator,
    distinct_inputs,
    english_sentences,
    served_models,
    sha256_file,
)
from models.evaluate.faithfulness_report import answer_paragraph, markdown
from models.explain.agreement import agreement
from models.explain.attribute import METHODS, RULES, SEGMENTS, Rule, attribute, completeness_holds, rule_of
from models.explain.deletion import deletion_curves
from models.explain.families import Explainable
from models.explain.readout import Readout

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
CACHE_VERSION = 2
CURVE_POINTS = 11  # deletion curves are read (and averaged) at fractions 0, 0.1, ..., 1 of the inputs removed
TOLERANCE = 0.05  # integrated gradients' completeness: |sum - (F(x) - F(baseline))| <= 5% of |F(x) - F(baseline)|


def readouts(explainable: Explainable) -> dict[str, Readout]:
    """Each cross-attention layer's mean over heads, and rollout where the model has an encoder
    self-attention to roll out (Transformers); none for a model without attention."""
    output = explainable.output
    if isinstance(output, ImageAttentionOutput):
        layers = 0 if output.spatial is None else output.spatial.shape[1]  # (T, L, H, h, w)
        return {f"mean L{layer}": Readout("mean", layer) for layer in range(layers)}
    stacks = {stack.kind: stack for stack in output.stacks}
    if "cross" not in stacks:
        return {}
    chosen = {f"mean L{layer}": Readout("mean", layer) for layer in range(stacks["cross"].weights.shape[0])}
    return {**chosen, "rollout": Readout("rollout")} if "encoder_self" in stacks else chosen


def readout_labels(explainable: Explainable) -> dict[str, str]:
    """Each readout's name -> what it is, in words (for the page and the tables)."""
    output = explainable.output
    image = isinstance(output, ImageAttentionOutput)
    if isinstance(output, ImageAttentionOutput):
        heads = 0 if output.spatial is None else output.spatial.shape[2]
        what = "cross-attention over the patch grid"
    else:
        cross = next((s for s in output.stacks if s.kind == "cross"), None)
        heads = 0 if cross is None else cross.weights.shape[1]
        what = "cross-attention"
    labels = {}
    for name, readout in readouts(explainable).items():
        if readout.kind == "rollout":
            labels[name] = "last cross-attention layer (mean over heads) through the encoder's attention rollout"
        elif heads == 1:
            where = "over the patch grid" if image else "over the source"
            labels[name] = f"the decoder's attention {where} (a single attention, no heads)"
        else:
            labels[name] = f"{what} of layer {readout.layer}, mean over {heads} heads"
    return labels


def resample(curve: np.ndarray, fractions: np.ndarray) -> list[float]:
    """A curve read at `fractions` of the inputs removed, resampled at CURVE_POINTS fractions 0, 0.1, ..., 1."""
    return np.interp(np.linspace(0, 1, CURVE_POINTS), fractions, curve).tolist()


def draw_rows(T: int, rows: int, seed: int) -> list[int]:
    """`rows` of an input's T output rows, drawn with its seed, sorted; the final </s> row is left out when there
    are others."""
    candidates = list(range(max(T - 1, 1)))
    return sorted(random.Random(seed).sample(candidates, min(rows, len(candidates))))


def explain_sentence(
    explainable: Explainable, rows: int, steps: int, seed: int, rule: Rule | None = None
) -> list[dict[str, Any]]:
    """Agreement and deletion figures of `rows` output tokens of one sentence (or image); rule: integrated
    gradients' pieces of the path and where they are cut (models/explain/attribute.py; None: the default)."""
    rule = rule or Rule()
    T = len(explainable.row_tokens)
    if T == 0:
        return []
    chosen = draw_rows(T, rows, seed)
    attention = {name: explainable.readout(r).numpy() for name, r in readouts(explainable).items()}  # (T, S)
    score = explainable.score_rows(chosen)  # (B, R): column i is output row chosen[i]
    x, baseline, S = explainable.x, explainable.baseline, explainable.x.shape[1]
    local = list(range(len(chosen)))
    results = {
        method: attribute(score, x, method, local, steps, baseline, segments=rule.segments, cut=rule.cut)
        for method in METHODS
    }
    ig = results["integrated_gradients"]
    complete = completeness_holds(ig, TOLERANCE).tolist()
    orders: list[tuple[str, int, np.ndarray]] = []  # (order name, local row, importance (S,))
    for i, row in enumerate(chosen):
        named = {f"attention {name}": a[row] for name, a in attention.items()}
        named.update({method: np.abs(result.values[i].double().numpy()) for method, result in results.items()})
        named["random"] = np.random.default_rng(seed * 1000 + row).random(S)
        orders += [(name, i, np.asarray(order, dtype=np.float64).reshape(-1)) for name, order in named.items()]
    curves = deletion_curves(score, x, [(i, order) for _, i, order in orders], baseline, CURVE_POINTS)
    out = []
    for i, row in enumerate(chosen):
        deletion = {
            name: {
                "comprehensiveness_auc": curve.comprehensiveness_auc,
                "sufficiency_auc": curve.sufficiency_auc,
                "comprehensiveness": resample(curve.comprehensiveness, curve.fractions),
                "sufficiency": resample(curve.sufficiency, curve.fractions),
            }
            for (name, j, _), curve in zip(orders, curves, strict=True)
            if j == i
        }
        agreements = {}
        for name, a in attention.items():
            for method, result in results.items():
                figures = agreement(a[row], result.values[i].numpy(), k=3)
                agreements[f"{name} | {method}"] = {
                    "spearman": figures.spearman,
                    "kendall": figures.kendall,
                    "top_k_overlap": figures.top_k_overlap,
                }
        assert ig.delta is not None
        out.append(
            {
                "row": row,
                "ig_complete": bool(complete[i]),
                "ig_delta": float(ig.delta[i]),
                "ig_change": float(ig.change[i]),
                "agreement": agreements,
                "deletion": deletion,
            }
        )
    return out


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over every explained row of one model."""
    if not rows:
        return {"rows": 0}
    agreement_keys = rows[0]["agreement"].keys()
    deletion_keys = rows[0]["deletion"].keys()
    gaps = [abs(r["ig_delta"]) / max(abs(r["ig_change"]), 1e-12) for r in rows if "ig_delta" in r]
    return {
        "rows": len(rows),
        "ig_completeness_rate": float(np.mean([r["ig_complete"] for r in rows])),
        "ig_relative_gap_median": float(np.median(gaps)) if gaps else None,
        "agreement": {
            key: {
                metric: _mean([r["agreement"][key][metric] for r in rows])
                for metric in ("spearman", "kendall", "top_k_overlap")
            }
            for key in agreement_keys
        },
        "deletion": {
            key: {
                "comprehensiveness_auc": _mean([r["deletion"][key]["comprehensiveness_auc"] for r in rows]),
                "sufficiency_auc": _mean([r["deletion"][key]["sufficiency_auc"] for r in rows]),
                "comprehensiveness_curve": np.mean([r["deletion"][key]["comprehensiveness"] for r in rows], 0).tolist(),
                "sufficiency_curve": np.mean([r["deletion"][key]["sufficiency"] for r in rows], 0).tolist(),
            }
            for key in deletion_keys
        },
    }


def evaluate_model(
    model_id: str,
    model: Translator,
    sentences: Sequence[str] | Sequence[bytes],
    limit: int,
    settings: dict[str, int],
    cache_dir: Path,
    cached_only: bool = False,
) -> dict[str, Any]:
    """Explain up to `limit` distinct sentences (at most MAX_SOURCE_TOKENS long) with per-sentence caching; with
    cached_only, the cached ones among them only (nothing is computed)."""
    weights = sha256_file(model.weights)
    config = model.weights.parent / "config.json"  # how the weights are served (e.g. a captioner's face cues)
    served = f"{weights}:{sha256_file(config)}" if config.exists() else weights  # the cache key's part
    cache_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    seconds: list[float] = []  # wall clock per input
    cpu_seconds: list[float] = []  # CPU time per input (one torch thread): what it costs on one core
    labels: dict[str, str] = {}
    explained = 0
    default = Rule(settings["segments"])
    rule = default if settings["segments"] != SEGMENTS else rule_of(model_id)  # --segments: every model alike
    ruled = ("" if rule == default else f":{rule}") + model.variant  # the default's inputs keep their cache keys
    for used, (position, item, sentence) in enumerate(distinct_inputs(model, sentences, limit), start=1):
        key = f"{served}:{item}:{sorted(settings.items())}{ruled}:{CACHE_VERSION}"
        key = hashlib.sha256(key.encode()).hexdigest()
        path = cache_dir / f"{key[:24]}.json"
        if path.exists():
            entry = json.loads(path.read_text())
        elif cached_only:
            continue
        else:
            start, cpu = time.perf_counter(), time.process_time()
            explainable = model.explain(sentence)
            entry = {
                "rows": explain_sentence(explainable, settings["rows"], settings["steps"], position, rule),
                "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu,
                "readouts": readout_labels(explainable),
            }
            path.write_text(json.dumps(entry))
            logger.info("%s: %d/%d inputs, %.1f s", model_id, used, limit, entry["seconds"])
        explained += 1
        rows += entry["rows"]
        seconds.append(entry["seconds"])
        if "cpu_seconds" in entry:
            cpu_seconds.append(entry["cpu_seconds"])
        if not labels:  # in this code's words, even when the entry was cached by an older version
            labels = readout_labels(model.explain(sentence))
    return {
        "sentences": explained,
        "weights_sha256": weights,
        "seconds_per_input": float(np.mean(seconds)) if seconds else None,
        "cpu_seconds_per_input": float(np.mean(cpu_seconds)) if cpu_seconds else None,
        "readouts": labels,
        "ig_rule": f"{rule.segments} pieces cut by equal shares of the {rule.cut}'s change",
        **summarise(rows),
    }


def updated_models(
    existing: dict[str, Any], settings: dict[str, Any], computed: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The existing report's models in its order with the computed ones replaced (new ones last); ValueError when
    the existing report was made with other settings (its figures could not stand beside the new ones)."""
    differ = sorted(k for k, v in settings.items() if existing.get("settings", {}).get(k) != v)
    if differ:
        raise ValueError(f"the existing report was made with other {', '.join(differ)}; rerun every model")
    return {**existing.get("models", {}), **computed}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=200, help="sentences per translation model (default 200)")
    parser.add_argument("--scenes", type=int, default=None, help="held-out scenes per captioner (default: all)")
    parser.add_argument(
        "--scenes-of",
        action="append",
        default=[],
        metavar="MODEL=N",
        help="fewer held-out scenes for one captioner (its inputs cost more: captioner-sat-cnn's 196 cells)",
    )
    parser.add_argument("--rows", type=int, default=2, help="explained output tokens per sentence")
    parser.add_argument("--steps", type=int, default=32, help="integrated gradients steps (gradient points)")
    parser.add_argument("--segments", type=int, default=SEGMENTS, help="integrated gradients' pieces of the path")
    parser.add_argument("--models", nargs="*", default=None, help="only these model ids (default: every one)")
    parser.add_argument("--cached-only", action="store_true", help="write the report from cached inputs only")
    parser.add_argument(
        "--update",
        action="store_true",
        help="with --models: keep the other models' figures of the existing report (its settings must be the same)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    settings = {"rows": args.rows, "steps": args.steps, "segments": args.segments}
    cache = args.out / ".cache" / "faithfulness"
    wanted = set(args.models) if args.models else None

    english = english_sentences(args.limit)
    models: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    scenes_of = {k: int(v) for k, v in (item.split("=", 1) for item in args.scenes_of)}
    for model_id, model, inputs in served_models(wanted, english, "test", skipped):
        limit = args.limit if isinstance(inputs[0], str) else scenes_of.get(model_id, args.scenes or len(inputs))
        figures = evaluate_model(model_id, model, inputs, limit, settings, cache, args.cached_only)
        models[model_id] = {"input_kind": "source tokens" if isinstance(inputs[0], str) else "image cells", **figures}
    if args.update and (args.out / "faithfulness.json").exists():
        existing = json.loads((args.out / "faithfulness.json").read_text())
        try:
            models = updated_models(existing, {**settings, "limit": args.limit, "scenes_of": scenes_of}, models)
        except ValueError as error:
            raise SystemExit(f"--update: {error}") from error
    counts = ", ".join(f"{m} {f['sentences']}" for m, f in models.items())
    own = [f"{m} {r.segments} pieces cut by its {r.cut}" for m, r in RULES.items() if m in models]
    own_rules = f"; chosen on dev rows for {', '.join(own)} (models.explain.attribute.RULES)" if own else ""
    if args.segments != SEGMENTS:
        own_rules = "; every model alike"
    report: dict[str, Any] = {
        "settings": {
            **settings,
            "limit": args.limit,
            "scenes": args.scenes,
            "scenes_of": scenes_of,
            "max_source_tokens": MAX_SOURCE_TOKENS,
            "curve_points": CURVE_POINTS,
            "cached_only": args.cached_only,
        },
        "settings_text": (
            f"Up to {args.limit} sentences per translation model (the first Bible test verses of at most "
            f"{MAX_SOURCE_TOKENS} source tokens), {args.scenes or 'all'} held-out scenes per captioner"
            + "".join(f" ({m}: the first {n})" for m, n in scenes_of.items())
            + ", "
            f"{args.rows} output tokens each (seeded), integrated gradients with {args.steps} steps (Captum's "
            f"Gauss-Legendre rule on {args.segments} pieces of the path, cut where a forward-only trace of the score "
            f"changes{own_rules}); baseline and removal: <unk> (text), an empty canvas's features (image cells; "
            f"captioner-sat-cnn: all-zero CNN features, chosen on dev rows); "
            f"deletion curves read at {CURVE_POINTS} fractions of the inputs. Inputs explained: {counts}."
        ),
        "models": models,
        "not_covered": "; ".join(skipped) if skipped else "nothing: every served translation model and captioner.",
    }
    report["answer"] = answer_paragraph(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "faithfulness.json").write_text(json.dumps(report, indent=1))
    (args.out / "faithfulness.md").write_text(markdown(report))
    logger.info("wrote %s", args.out / "faithfulness.md")


if __name__ == "__main__":
    main()
