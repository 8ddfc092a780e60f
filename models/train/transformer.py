"""Train the textbook Transformer (models/nets/transformer.py) on the same EN->ES verse pairs, batches, loop and
evaluation as the RNN family (models/train/loop.py), with the warm-up schedule of Vaswani et al. (2017):
lr = factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), Adam(0.9, 0.98, 1e-9), label smoothing.

Seeded, resumable (checkpoints/<id>/last.pt every few minutes), tqdm progress, step budget, training compute
counted in process CPU time.
Output, models/weights/transformer-en-es/: model.safetensors (fp16), config.json, spm.model,
metrics.json (dev/test BLEU and chrF, greedy), README.md (model card).
  nohup env OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m models.train.transformer --threads 2 \
      > logs/transformer-en-es.log 2>&1 &
  (add --resume to continue after an interruption)
A second stage (issue 12) continues the schedule from the first stage's exported weights (fresh Adam moments):
  python -m models.train.transformer --data data/en_es_mix --init-from models/weights/transformer-en-es \
      --schedule-offset 5000 --max-steps 1500 --threads 1 --weights-dir artifacts/stage2 \
      --checkpoint-dir checkpoints/stage2 --test-sets test=../bible_en_es/test.jsonl everyday=test_everyday.jsonl
"""

import argparse
import logging
import math
from dataclasses import asdict
from typing import Any

import torch

from models.nets.transformer import Transformer, TransformerConfig, warmup_lr
from models.train import loop

logger = logging.getLogger("train_transformer")
MODEL_ID = "transformer-en-es"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the textbook Transformer EN->ES.")
    loop.add_protocol_args(p, max_steps=4000, max_steps_help="step budget (~2 CPU-hours, ~1.3 s a step on 2 threads)")
    p.add_argument("--warmup", type=int, default=800, help="warm-up steps of the schedule")
    p.add_argument("--lr-factor", type=float, default=1.0, help="multiplies the schedule")
    p.add_argument(
        "--schedule-offset",
        type=int,
        default=0,
        help="steps already taken (with --init-from: the schedule goes on from there, not from warm-up)",
    )
    skip = {"vocab_size", "pad_id", "bos_id", "eos_id", "positional", "max_positions"}
    loop.add_config_args(p, asdict(TransformerConfig()), skip)
    args = p.parse_args(argv)
    if args.max_steps <= 0:
        p.error("--max-steps must be positive: it is this trainer's only budget")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    loop.set_threads(args.threads)
    verses = loop.load_verses(args)
    fields = {k: getattr(args, k) for k in asdict(TransformerConfig()) if hasattr(args, k)}
    config = TransformerConfig(**{**fields, "vocab_size": verses.sp.get_piece_size()})
    loop.seed_all(args.seed)
    model = Transformer(config).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0, betas=(0.9, 0.98), eps=1e-9)
    params = sum(p.numel() for p in model.parameters())
    logger.info("%s: %.2fM parameters, config %s", MODEL_ID, params / 1e6, asdict(config))

    def lr_at(step: int, progress: float) -> float:  # warm-up, then inverse square root of the step
        return args.lr_factor * warmup_lr(args.schedule_offset + step + 1, config.d_model, args.warmup)

    budget = loop.Budget(math.inf, args.max_steps)
    trained = loop.fit(model, optimizer, lr_at, verses, args, MODEL_ID, asdict(config), budget)
    if trained is None:  # --benchmark
        return
    shipped = loop.export(Transformer(config), Transformer.from_pretrained, args, MODEL_ID, verses, trained)
    metrics = shipped.metrics
    metrics["history"] = trained.history
    metrics["protocol"] = {
        k: getattr(args, k)
        for k in (
            "max_steps",
            "seed",
            "batch_tokens",
            "max_sentences",
            "max_len",
            "warmup",
            "lr_factor",
            "schedule_offset",
            "label_smoothing",
            "clip",
        )
    }
    loop.write_outputs(shipped.out, metrics, card(args, config, metrics))


def card(args: argparse.Namespace, config: TransformerConfig, metrics: dict[str, Any]) -> str:
    """The model card (README.md): architecture, data, protocol and scores from metrics.json."""
    results = "\n".join(loop.results_lines(metrics))
    continued = f", continued from step {args.schedule_offset}" if args.schedule_offset else ""
    return (
        f"# {MODEL_ID}\n\nThe encoder-decoder Transformer of Vaswani et al. (2017) (models/nets/transformer.py): "
        f"{config.encoder_layers}+{config.decoder_layers} layers, {config.n_heads} heads, d_model {config.d_model}, "
        f"FFN {config.d_ffn}, {metrics['parameters'] / 1e6:.1f}M parameters, fp16 weights "
        f"({metrics['weights_bytes'] / 1e6:.1f} MB).\n\n"
        f"Data: {loop.data_text(metrics)}\n\n"
        f"Training: {loop.trained_on(metrics)}, warm-up schedule (warmup {args.warmup}{continued}), label smoothing "
        f"{args.label_smoothing}; the checkpoint with the lowest dev loss ({metrics['best_dev_loss']}) is exported.\n\n"
        f"Scores (sacreBLEU 13a / chrF, detokenised):\n{results}\n\n"
        "Limits: a small model trained briefly; meant for looking at attention maps, not for translating.\n"
    )


if __name__ == "__main__":
    main()
