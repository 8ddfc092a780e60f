"""Train the whole RNN family with one protocol, one variant after another, skipping finished ones.

Protocol (the same for every variant and the baseline): models.train.rnn defaults (data, batches,
optimiser, schedule, seed 1234, 1 thread) and a budget of STEPS optimiser steps, so results do not
depend on how busy the machine was. A variant whose checkpoint exists is resumed.
Run in the background:
  nohup env OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m models.train.rnn_family > logs/rnn-family.log 2>&1 &
The served weights are this protocol on the everyday mix (issue 12); `general` divides its scores by sqrt(d_k)
(chosen on dev, reports/general_study.md; --unscaled-general for the textbook form):
  python -m models.train.rnn_family --data data/en_es_mix --weights-dir artifacts/mix-weights \
      --checkpoint-dir checkpoints/mix --test-sets test=../bible_en_es/test.jsonl everyday=test_everyday.jsonl
(add --device cuda where a GPU is lent: the first stage was trained so, same steps, batches and seed)
A second stage (issue 12) starts every variant from its own first-stage weights, same data and batches, 800 more
steps at lr 1e-3 decaying linearly to 1e-4; it ships for the whole family or not at all, on mean dev BLEU
(models/evaluate/second_stage.py):
  python -m models.train.rnn_family --only additive none dot general concat location scaled_dot \
      --data data/en_es_mix --weights-dir artifacts/stage2 --checkpoint-dir checkpoints/stage2 \
      --init-from-dir models/weights --steps 800 --lr 1e-3 --decay-from 0 \
      --test-sets test=../bible_en_es/test.jsonl everyday=test_everyday.jsonl
"""

import argparse
import logging
import subprocess
import sys
from pathlib import Path

STEPS = 1600  # ~3.3 epochs of the 26.8k training verses; ~45 min per variant on one core
FAMILY = ["additive", "none", "dot", "general", "concat", "location", "scaled_dot"]
EXTRAS = ["cosine", "biased_general", "activated_general", "deep"]

logger = logging.getLogger("train_rnn_family")


def model_id(attention: str) -> str:
    return f"rnn-{attention.replace('_', '-')}-en-es"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="these attention names (default: the family, then extras)")
    parser.add_argument("--weights-dir", type=Path, default=Path("models/weights"))
    parser.add_argument("--checkpoint-dir", type=Path, default=Path("checkpoints"))
    parser.add_argument("--data", type=Path, default=None, help="training data folder (default: the trainer's)")
    parser.add_argument("--test-sets", nargs="+", default=None, metavar="NAME=FILE", help="passed to the trainer")
    parser.add_argument("--general-init", default=None, help="passed to the trainer (general variants only)")
    parser.add_argument("--suffix", default="", help="appended to each model id (a study beside the family)")
    parser.add_argument(
        "--init-from-dir",
        type=Path,
        default=None,
        help="a second stage: each variant starts from <dir>/<model id> (its own first-stage weights)",
    )
    parser.add_argument("--steps", type=int, default=STEPS, help="step budget of each variant")
    parser.add_argument("--lr", default=None, help="passed to the trainer (a second stage: e.g. 1e-3)")
    parser.add_argument("--decay-from", default=None, help="passed to the trainer (a second stage: e.g. 0)")
    parser.add_argument("--device", default="cpu", help="passed to the trainer (cpu, cuda): the same protocol")
    parser.add_argument(
        "--unscaled-general",
        action="store_true",
        help="train general without the sqrt(d_k) scaling (the study's 'default' set-up)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for attention in args.only or FAMILY + EXTRAS:
        name = model_id(attention).replace("-en-es", f"{args.suffix}-en-es")
        if (args.weights_dir / name / "metrics.json").exists():
            logger.info("%s is trained already", name)
            continue
        command = [
            sys.executable, "-m", "models.train.rnn", "--attention", attention, "--model-id", name,
            "--minutes", "inf", "--max-steps", str(args.steps), "--threads", "1",
            "--weights-dir", str(args.weights_dir), "--checkpoint-dir", str(args.checkpoint_dir),
        ]  # fmt: skip
        if args.data is not None:
            command += ["--data", str(args.data)]
        if args.test_sets:
            command += ["--test-sets", *args.test_sets]
        if args.general_init and "general" in attention:
            command += ["--general-init", args.general_init]
        if attention == "general" and not args.unscaled_general:  # chosen on dev: reports/general_study.md
            command += ["--general-scaled", "true"]
        command += ["--device", args.device]
        if args.init_from_dir is not None:
            command += ["--init-from", str(args.init_from_dir / model_id(attention))]
        for flag, value in (("--lr", args.lr), ("--decay-from", args.decay_from)):
            if value is not None:
                command += [flag, value]
        if (args.checkpoint_dir / name / "last.pt").exists():
            command.append("--resume")
        logger.info("training %s: %s", name, " ".join(command))
        with open(Path("logs") / f"{name}.log", "a") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)


if __name__ == "__main__":
    main()
