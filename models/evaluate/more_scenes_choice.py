"""Does captioner-sat-cnn name more real photos when trained on twice the composed scenes? Chosen on dev photos and
validation scenes -> reports/more_scenes_choice.{json,md}.

The rule, fixed before the candidate was trained: the candidates, in this order, are the served decoder and the same
recipe retrained on twice the training scenes (the `captioner-sat-cnn` line of models/train/captioner.py's
docstring, same seed and 12 epochs, on data/scenes-x2: `python -m models.data.scenes --out data/scenes-x2 --n 6000
--seed 0 --extra-train 6000`, the same 6,000 scenes and splits plus scenes 6000-11999 of seed 0, all training).
Both decode as served (beam 3, face cues at min_neighbors 12: the served config.json, with the candidate's weights).
A candidate is allowed when its validation BLEU-4 is at least 52 and its validation pointing at least 0.86 (as in
reports/evidence_gain_choice.md). Among the allowed ones the one naming the most dev photos wins, the served decoder
on ties: a retrain is adopted only when it names more dev photos. Test scenes and evaluation photos are not read.
Run: python -m models.evaluate.more_scenes_choice --candidate artifacts/captioner-sat-cnn-x2 [--scenes data/scenes-x2]
(the validation scenes are the same in both folders; --scenes names the one whose features are extracted)
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from models.data.scene_features import CNN_FINE_FACES, load_features
from models.data.scenes import DEFAULT_OUT, load_scenes
from models.evaluate.dev_choice import changed_captions, dev_photos, score_variant, table, write_report
from models.evaluate.evidence_gain_choice import MIN_BLEU, MIN_POINTING
from models.serve.captioner import WEIGHTS_DIR

log = logging.getLogger(__name__)
MODEL = "captioner-sat-cnn"
TRAINING_KEYS = ("data", "epochs", "best_epoch", "val_bleu4", "train_seconds")  # of the candidate's metrics.json


def choose(rows: dict[str, dict[str, Any]]) -> str:
    """The rule of the module docstring over {candidate: {"dev_named", "val_bleu4", "val_pointing"}}, the served
    decoder first."""
    served, *others = rows
    allowed = [k for k in others if rows[k]["val_bleu4"] >= MIN_BLEU and rows[k]["val_pointing"] >= MIN_POINTING]
    best = max(allowed, key=lambda k: rows[k]["dev_named"], default=served)
    return best if rows[best]["dev_named"] > rows[served]["dev_named"] else served


def served_config_for(weights: Path) -> dict[str, Any]:
    """The served config.json (decoding, face cues, evidence table), checked to fit these weights: the network's
    config (but for the served cue columns) and the vocabulary must be the served ones."""
    served = json.loads((WEIGHTS_DIR / MODEL / "config.json").read_text())
    trained = json.loads((weights / "config.json").read_text())
    cues = served["config"].get("cues") or []  # served cue columns (faces) come after the trained features
    width = trained["config"]["feature_dim"] - len(trained["config"].get("cues") or []) + len(cues)
    grown = {**trained["config"], "cues": cues, "feature_dim": width}
    if grown != served["config"]:
        raise SystemExit(f"{weights}: not the served network's configuration")
    if (weights / "vocab.json").read_text() != (WEIGHTS_DIR / MODEL / "vocab.json").read_text():
        raise SystemExit(f"{weights}: not the served vocabulary")
    return served


def score(weights: Path, photos: Path, scenes_dir: Path) -> dict[str, Any]:
    """The weights' row, decoded as the served model is."""
    val = load_scenes(scenes_dir, "val")
    features = load_features(scenes_dir, CNN_FINE_FACES, [s.id for s in val])
    row = score_variant(weights, served_config_for(weights), dev_photos(photos), val, features)
    return {"weights": str(weights), **row}


def markdown(report: dict[str, Any], title: str, doc: str) -> str:
    rule = doc.split("\n\n")[1].split("\nRun:")[0]
    lines = [f"# {title} (dev photos and validation scenes only)", ""]
    lines += [rule, "", f"Chosen: {report['chosen']}.", ""]
    t = report["candidate_training"]
    lines += [
        f"The candidate trained {t['epochs']} epochs on {t['data']['splits']} scenes (train / val / test), best greedy "
        f"validation BLEU-4 {t['val_bleu4']} at epoch {t['best_epoch']}, {t['train_seconds']} s of training.",
        "",
    ]
    lines += table(report["rows"], "decoder")
    served, other = (r["dev_captions"] for r in report["rows"].values())
    lines += changed_captions(served, other, "Dev captions that change:")
    lines += ["", f"Reproduce: `{report['command']}`", ""]
    return "\n".join(lines)


def run_choice(argv: Sequence[str] | None, module: str, label: str, title: str, doc: str) -> None:
    """Score the served decoder and a retrained candidate (--candidate) by the rule in `doc`; write
    reports/<module>.{json,md}. label: the candidate's row name."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--candidate", type=Path, required=True, help="the retrained weights folder")
    parser.add_argument("--photos", type=Path, default=Path("data/real_photos"))
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    rows = {
        "served": score(WEIGHTS_DIR / MODEL, args.photos, args.scenes),
        label: score(args.candidate, args.photos, args.scenes),
    }
    trained = json.loads((args.candidate / "metrics.json").read_text())
    report = {
        "model": MODEL,
        "candidate_training": {k: trained.get(k) for k in TRAINING_KEYS},
        "rows": rows,
        "chosen": choose(rows),
        "command": f"python -m models.evaluate.{module} --candidate {args.candidate}"
        + ("" if args.scenes == DEFAULT_OUT else f" --scenes {args.scenes}"),
    }
    write_report(module, report, markdown(report, title, doc))
    log.info("chosen: %s", report["chosen"])


def main(argv: Sequence[str] | None = None) -> None:
    title = "captioner-sat-cnn on twice the composed scenes"
    run_choice(argv, "more_scenes_choice", "twice the scenes", title, __doc__ or "")


if __name__ == "__main__":
    main()
