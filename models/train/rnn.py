"""Train one GRU encoder-decoder variant (models/nets/seq2seq_rnn.py) on the EN->ES verse pairs.

Every variant gets the same protocol (models/train/loop.py): same data (data/bible_en_es, built by
`python -m models.data.bible_en_es`), same batches (length-bucketed, seeded order),
same optimiser and schedule, and the same budget: a wall-clock budget of training
compute (--minutes; evaluation and checkpointing are not counted) and/or a step budget
(--max-steps). The dev split picks the exported checkpoint (lowest dev loss); the test
split is decoded once, at the end, for the reported metrics only.

Output, models/weights/<model-id>/:
  model.safetensors (fp16), config.json, spm.model, metrics.json, README.md (model card)
Checkpoints (resumable, every --checkpoint-minutes): checkpoints/<model-id>/{last,best}.pt

Examples:
  python -m models.train.rnn --attention additive --minutes 35
  python -m models.train.rnn --attention additive --minutes 35 --resume
  python -m models.train.rnn --attention additive --benchmark 30   # target tokens/s only
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import asdict
from typing import Any

import torch

from models.nets.seq2seq_rnn import Seq2SeqConfig, Seq2SeqRNN
from models.train import loop
from models.train.metrics import score

logger = logging.getLogger("train_rnn")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a GRU seq2seq EN->ES variant.")
    p.add_argument("--attention", default="additive", help="score function name, or 'none'")
    p.add_argument("--model-id", default=None, help="default: rnn-<attention>-en-es")
    p.add_argument("--minutes", type=float, default=35.0, help="budget of training compute, in minutes")
    loop.add_protocol_args(p, max_steps=0, max_steps_help="step budget (0: none)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (constant, then linear decay)")
    p.add_argument(
        "--attention-lr-scale",
        type=float,
        default=1.0,
        help="the score function's parameters learn at lr times this (1: like every other parameter)",
    )
    p.add_argument("--decay-from", type=float, default=0.5, help="budget fraction where lr decay starts")
    p.add_argument("--beam", type=int, default=5, help="beam size for the final test decoding")
    p.add_argument("--stop-at-step", type=int, default=0, help="checkpoint and exit at this step (resume later)")
    loop.add_config_args(p, asdict(Seq2SeqConfig()), skip={"attention", "vocab_size", "pad_id", "bos_id", "eos_id"})
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    loop.set_threads(args.threads)
    model_id = args.model_id or f"rnn-{args.attention.replace('_', '-')}-en-es"
    verses = loop.load_verses(args)
    config_fields = {k: getattr(args, k) for k in asdict(Seq2SeqConfig()) if hasattr(args, k)}
    config = Seq2SeqConfig(**{**config_fields, "attention": args.attention, "vocab_size": verses.sp.get_piece_size()})
    loop.seed_all(args.seed)
    model = Seq2SeqRNN(config).to(args.device)
    groups: list[dict[str, Any]] = [{"params": list(model.parameters())}]
    if args.attention_lr_scale != 1.0:  # the score function's parameters in a group of their own
        scored = {n for n, _ in model.named_parameters() if n.startswith("decoder.attention.")}
        groups = [
            {"params": [p for n, p in model.named_parameters() if n not in scored]},
            {"params": [p for n, p in model.named_parameters() if n in scored], "lr_scale": args.attention_lr_scale},
        ]
    optimizer = torch.optim.Adam(groups, lr=args.lr)
    logger.info("%s: %.2fM parameters, config %s", model_id, model.num_parameters() / 1e6, asdict(config))

    def lr_at(step: int, progress: float) -> float:  # constant, then linear decay to 10% from --decay-from
        return args.lr * (1.0 - 0.9 * max(0.0, progress - args.decay_from) / (1.0 - args.decay_from))

    # budget in process CPU time, like every trainer here (it was wall-clock time before models/train/loop.py)
    budget = loop.Budget(args.minutes * 60, args.max_steps)
    trained = loop.fit(model, optimizer, lr_at, verses, args, model_id, asdict(config), budget,
                       stop_at_step=args.stop_at_step)  # fmt: skip
    if trained is None:  # --benchmark, or --stop-at-step
        return
    shipped = loop.export(Seq2SeqRNN(config), Seq2SeqRNN.from_pretrained, args, model_id, verses, trained,
                          data_counts=True)  # fmt: skip
    metrics = shipped.metrics
    metrics["protocol"] = protocol(args)
    loop.write_outputs(shipped.out, metrics, card(model_id, config, metrics))  # greedy figures first: beam is slow
    if args.beam > 1:
        hyps = translate_beam(shipped.model, shipped.test, verses.sp, beam=args.beam, desc=f"test beam {args.beam}")
        metrics[f"test_beam{args.beam}"] = score(hyps, [r["es"] for r in shipped.test_records])
        samples = [
            {"ref": r["ref"], "en": r["en"], "es": r["es"], "hyp": h}
            for r, h in zip(shipped.test_records, hyps, strict=True)
        ]
        (shipped.out / "test_samples.json").write_text(json.dumps(samples[:20], ensure_ascii=False, indent=1) + "\n")
    metrics["history"] = trained.history
    loop.write_outputs(shipped.out, metrics, card(model_id, config, metrics))


def protocol(args: argparse.Namespace) -> dict[str, Any]:
    """The protocol flags a card and metrics.json record."""
    chosen = {
        k: getattr(args, k)
        for k in ("minutes", "max_steps", "seed", "batch_tokens", "max_sentences", "max_len", "lr", "decay_from",
                  "attention_lr_scale", "clip", "label_smoothing", "beam")
    }  # fmt: skip
    if not math.isfinite(chosen["minutes"]):
        chosen["minutes"] = None  # no time budget (JSON has no Infinity)
    return chosen


@torch.no_grad()
def translate_beam(model: Seq2SeqRNN, pairs: list[loop.Pair], sp: Any, beam: int, desc: str = "") -> list[str]:
    """Beam-search translation of every source, one at a time, as detokenised text (only the RNNs have a beam)."""
    from tqdm import tqdm

    model.eval()
    hyps: list[str] = [""] * len(pairs)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    for i in tqdm(order, desc=desc, file=sys.stderr, mininterval=10, disable=None):
        out = model.beam_search(torch.tensor([pairs[i][0]], device=loop.device_of(model)), beam_size=beam)
        hyps[i] = sp.decode(loop.strip_ids(out.tokens[0].tolist()))
    model.train()
    return hyps


def card(model_id: str, config: Seq2SeqConfig, metrics: dict[str, Any]) -> str:
    """The model card (README.md) of an exported variant: data, protocol and scores from metrics.json."""
    score_name = config.attention if config.attention != "none" else "none (fixed context, Cho et al. 2014)"
    everyday = metrics.get("everyday_greedy", {}).get("bleu")
    weak = everyday is not None and everyday < 15 or metrics["test_greedy"]["bleu"] < 15
    lines = [
        f"# {model_id}",
        "",
        "GRU encoder-decoder for English -> Spanish, trained from scratch in this project to show",
        "encoder-decoder attention (models/nets/seq2seq_rnn.py).",
        "",
        f"- Attention score: {score_name}",
        *(
            [
                "- General scores divided by sqrt(d_k): unscaled, W grew until almost every attention row was one-hot "
                "(chosen on dev: reports/general_study.md)"
            ]
            if config.general_scaled
            else []
        ),
        f"- Encoder: {'bidirectional ' if config.bidirectional else ''}GRU, {config.enc_hidden} per direction; "
        f"decoder GRU {config.dec_hidden} with input feeding; tied {config.emb_dim}-d embeddings",
        f"- Vocabulary: shared SentencePiece unigram, {config.vocab_size} pieces (spm.model)",
        f"- Parameters: {metrics['parameters'] / 1e6:.2f}M, "
        f"stored as float16 ({metrics['weights_bytes'] / 1e6:.1f} MB)",
        f"- Training: {loop.trained_on(metrics)}, seed {metrics['protocol']['seed']}, "
        f"best dev loss {metrics['best_dev_loss']}",
        *(
            [
                f"- Second stage: Adam from fresh moments at lr {metrics['protocol']['lr']:g}, decaying linearly to a "
                f"tenth from {metrics['protocol']['decay_from']:.0%} of the stage on; the whole family took it on mean "
                "dev BLEU (reports/second_stage.md)"
            ]
            if metrics.get("init")
            else []
        ),
        "",
        "## Data",
        loop.data_text(metrics),
        "",
        "## Results (sacreBLEU 13a / chrF)",
        *loop.results_lines(metrics),
        "",
        "## Limitations",
        "A 5M-parameter model trained briefly: meant for looking at attention maps, not for translating."
        + (" A weak model: many of its translations are wrong, and so are many of its alignments." if weak else ""),
        "",
        "License: weights Apache-2.0; training data under the licences of its sources (see Data).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
