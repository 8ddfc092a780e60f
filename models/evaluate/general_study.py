"""Why Luong's `general` score fell behind under the family's shared protocol, and which fix was chosen (issue 12).

Every figure is on the dev split of the everyday mix (data/en_es_mix/dev.jsonl); the test sets are never read.
For each trained set-up of the general score it reports the best dev loss and dev BLEU (from the export's
metrics.json), the dev degeneracy (models/evaluate/degeneracy.py), and, teacher-forced on the first
--sentences dev pairs, how peaked the attention rows are (mean largest weight, mean entropy in nats) and the
spectral norm of the score's W. A dot-attention model of the same protocol is the yardstick.

The set-ups (all 1,600 steps, seed 1234, batches of 2,500 target tokens, Adam lr 2e-3 then linear decay):
  default   W from nn.Linear's uniform init                  --attention general
  identity  W = I at the start (general starts as dot)       --general-init identity
  lower-lr  W learns at lr / 10                               --attention-lr-scale 0.1
  scaled    scores divided by sqrt(d_k), as scaled dot does   --general-scaled true
Train them with models.train.rnn into one weights folder (model ids rnn-general{,-gid,-wlr,-scaled}-en-es), then:
  python -m models.evaluate.general_study --weights-dir artifacts/gpu-weights
Writes reports/general_study.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from models.evaluate.degeneracy import attention_degeneracy, load_pairs
from models.evaluate.runs import cached_run
from models.evaluate.verses import sha256_file

logger = logging.getLogger(__name__)

SETUPS = {
    "default": "rnn-general-en-es",
    "identity init": "rnn-general-gid-en-es",
    "W at lr / 10": "rnn-general-wlr-en-es",
    "scores / sqrt(d_k)": "rnn-general-scaled-en-es",
    "dot (yardstick)": "rnn-dot-en-es",
}


def peakedness(folder: Path, dev: Path, sentences: int) -> dict[str, float]:
    """Teacher-forced on the first `sentences` dev pairs: mean largest weight and entropy of the attention rows
    over real target positions, and the spectral norm of the general score's W (NaN for scores without one)."""
    import sentencepiece as spm
    import torch

    from models.nets.seq2seq_rnn import Seq2SeqRNN
    from models.train import loop

    model = Seq2SeqRNN.from_pretrained(folder).eval()
    sp = spm.SentencePieceProcessor(model_file=str(folder / "spm.model"))
    pairs, _ = loop.load_pairs(dev, sp)
    pairs = pairs[:sentences]
    largest, entropy = [], []
    with torch.no_grad():
        for start in range(0, len(pairs), 64):
            src, tgt_in, tgt_out = loop.collate(pairs, list(range(start, min(start + 64, len(pairs)))))
            weights = model(src, tgt_in).cross_attentions  # (B, T, S)
            real = tgt_out != 0
            largest.append(weights.max(-1).values[real])
            entropy.append(-(weights * weights.clamp_min(1e-12).log()).sum(-1)[real])
    named = dict(model.named_parameters())
    w = named.get("decoder.attention.W.weight")
    return {
        "mean_largest_weight": round(float(torch.cat(largest).mean()), 3),
        "mean_entropy": round(float(torch.cat(entropy).mean()), 3),
        "w_spectral_norm": round(float(torch.linalg.matrix_norm(w, 2)), 2) if w is not None else math.nan,
    }


def study(weights_dir: Path, dev: Path, cache_dir: Path, sentences: int) -> list[dict[str, Any]]:
    verses = load_pairs(dev)
    key = sha256_file(dev) + ":"
    rows = []
    for label, model_id in SETUPS.items():
        folder = weights_dir / model_id
        if not (folder / "metrics.json").exists():
            logger.warning("%s: no %s, skipped", label, folder)
            continue
        metrics = json.loads((folder / "metrics.json").read_text())
        run = cached_run(model_id, folder, verses, cache_dir, key)
        degeneracy = attention_degeneracy(run.attention) if run.attention is not None else math.nan
        rows.append({
            "setup": label, "model": model_id, "best_dev_loss": metrics["best_dev_loss"],
            "dev_bleu": metrics["dev_greedy"]["bleu"], "dev_degeneracy": round(degeneracy, 4),
            **peakedness(folder, dev, sentences),
        })  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]], sentences: int) -> str:
    lines = [
        "# The general score under the shared protocol (dev split only)",
        "",
        "Made by `python -m models.evaluate.general_study` (see its docstring for the training commands).",
        f"Peakedness is teacher-forced on the first {sentences} dev pairs: the mean largest weight of an attention",
        "row (1 = one-hot) and its mean entropy in nats.",
        "",
        "| set-up | best dev loss | dev BLEU | dev degeneracy | largest weight | entropy | ‖W‖₂ |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        norm = "-" if math.isnan(r["w_spectral_norm"]) else r["w_spectral_norm"]
        lines.append(
            f"| {r['setup']} | {r['best_dev_loss']} | {r['dev_bleu']} | {r['dev_degeneracy']} | "
            f"{r['mean_largest_weight']} | {r['mean_entropy']} | {norm} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights-dir", type=Path, default=Path("artifacts/gpu-weights"))
    parser.add_argument("--dev", type=Path, default=Path("data/en_es_mix/dev.jsonl"))
    parser.add_argument("--cache-dir", type=Path, default=Path("reports/.cache"))
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--out", type=Path, default=Path("reports/general_study"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    rows = study(args.weights_dir, args.dev, args.cache_dir, args.sentences)
    clean = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in rows]
    args.out.with_suffix(".json").write_text(json.dumps({"dev": str(args.dev), "rows": clean}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(rows, args.sentences))


if __name__ == "__main__":
    main()
