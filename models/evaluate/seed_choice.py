"""Does captioner-sat-cnn name more real photos when the same recipe is trained from another seed? Chosen on dev
photos and validation scenes -> reports/seed_choice.{json,md}.

The rule, fixed before the candidates were trained: the candidates, in this order, are the served decoder (seed 0)
and the same recipe retrained from seeds 1, 2 and 3 (the `captioner-sat-cnn` line of models/train/captioner.py's
docstring with --seed N, 12 epochs, on the same data/scenes: 4,800 / 600 / 600 scenes). The seed sets the initial
weights and the order of the training scenes; nothing else changes. All decode as served (the served config.json
with the candidate's weights). A candidate is allowed when its validation BLEU-4 is at least 52 and its validation
pointing at least 0.86 (as in reports/more_scenes_choice.md). Among the allowed ones the one naming the most dev
photos wins (the earlier seed on ties), and it is adopted only when it names more dev photos than the served
decoder. Test scenes and evaluation photos are not read.
Run: python -m models.evaluate.seed_choice --candidate artifacts/captioner-sat-cnn-seed1 --candidate ...
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from models.data.scenes import DEFAULT_OUT
from models.evaluate.dev_choice import changed_captions, table, write_report
from models.evaluate.more_scenes_choice import MODEL, TRAINING_KEYS, choose, score
from models.serve.captioner import WEIGHTS_DIR

log = logging.getLogger(__name__)


def markdown(report: dict[str, Any]) -> str:
    rule = (__doc__ or "").split("\n\n")[1].split("\nRun:")[0]
    lines = ["# captioner-sat-cnn from other seeds (dev photos and validation scenes only)", "", rule, ""]
    lines += [f"Chosen: {report['chosen']}.", ""]
    for label, t in report["candidate_training"].items():
        lines.append(
            f"- {label}: {t['epochs']} epochs on {t['data']['splits']} scenes, best greedy validation BLEU-4 "
            f"{t['val_bleu4']} at epoch {t['best_epoch']}, {t['train_seconds']} s of training."
        )
    lines += ["", *table(report["rows"], "decoder")]
    served, *others = report["rows"]
    for label in others:
        before, after = report["rows"][served]["dev_captions"], report["rows"][label]["dev_captions"]
        lines += changed_captions(before, after, f"Dev captions that change from the served decoder to {label}:")
    lines += ["", f"Reproduce: `{report['command']}`", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--candidate", type=Path, action="append", required=True, help="a retrained weights folder")
    parser.add_argument("--photos", type=Path, default=Path("data/real_photos"))
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    rows = {"served (seed 0)": score(WEIGHTS_DIR / MODEL, args.photos, args.scenes)}
    training = {}
    for weights in args.candidate:
        trained = json.loads((weights / "metrics.json").read_text())
        label = f"seed {trained['seed']}"  # a candidate's row name: its training seed
        rows[label] = score(weights, args.photos, args.scenes)
        training[label] = {k: trained.get(k) for k in TRAINING_KEYS}
    report = {
        "model": MODEL,
        "candidate_training": training,
        "rows": rows,
        "chosen": choose(rows),
        "command": "python -m models.evaluate.seed_choice " + " ".join(f"--candidate {c}" for c in args.candidate),
    }
    write_report("seed_choice", report, markdown(report))
    log.info("chosen: %s", report["chosen"])


if __name__ == "__main__":
    main()
