"""Train the textbook Transformer (models/nets/transformer.py) on the same EN->ES verse pairs, batches and
evaluation as the RNN family (models/train/rnn.py), with the warm-up schedule of Vaswani et al. (2017):
lr = factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), Adam(0.9, 0.98, 1e-9), label smoothing.

Seeded, resumable (checkpoints/<id>/last.pt every few minutes), tqdm progress, step budget.
Output, models/weights/transformer-en-es/: model.safetensors (fp16), config.json, spm.model,
metrics.json (dev/test BLEU and chrF, greedy), README.md (model card).
  nohup env OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m models.train.transformer --threads 2 \
      > logs/transformer-en-es.log 2>&1 &
  (add --resume to continue after an interruption)
"""

import argparse
import json
import logging
import math
import random
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import torch
from torch.nn import functional as F

from models.data.bible_en_es import DEFAULT_OUT, PAD_ID
from models.nets.seq2seq_rnn import Seq2SeqRNN
from models.nets.transformer import Transformer, TransformerConfig, warmup_lr
from models.train.metrics import score
from models.train.rnn import (
    collate,
    dev_loss,
    load_split,
    prepare_data,
    rng_state,
    save_checkpoint,
    set_rng_state,
    set_threads,
    translate_all,
)

logger = logging.getLogger("train_transformer")
MODEL_ID = "transformer-en-es"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the textbook Transformer EN->ES.")
    p.add_argument("--data", type=Path, default=DEFAULT_OUT)
    p.add_argument("--weights-dir", type=Path, default=Path("models/weights"))
    p.add_argument("--checkpoint-dir", type=Path, default=Path("checkpoints"))
    p.add_argument("--max-steps", type=int, default=4000, help="step budget (~2 CPU-hours, ~1.3 s a step on 2 threads)")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-tokens", type=int, default=2500, help="padded target tokens per batch (as the RNNs)")
    p.add_argument("--max-sentences", type=int, default=96)
    p.add_argument("--max-len", type=int, default=80)
    p.add_argument("--warmup", type=int, default=800, help="warm-up steps of the schedule")
    p.add_argument("--lr-factor", type=float, default=1.0, help="multiplies the schedule")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-limit", type=int, default=0, help="decode only N dev/test verses (smoke tests)")
    p.add_argument("--benchmark", type=int, default=0, help="only time this many steps; report tokens/s")
    for name, default in asdict(TransformerConfig()).items():
        if name in ("vocab_size", "pad_id", "bos_id", "eos_id", "positional", "max_positions"):
            continue
        p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default, help=f"({default})")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    set_threads(args.threads)
    from tqdm import tqdm

    sp, train, dev, dev_records, batches, dev_batches = prepare_data(args)
    fields = {k: getattr(args, k) for k in asdict(TransformerConfig()) if hasattr(args, k)}
    config = TransformerConfig(**{**fields, "vocab_size": sp.get_piece_size()})
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    model = Transformer(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0, betas=(0.9, 0.98), eps=1e-9)
    params = sum(p.numel() for p in model.parameters())
    logger.info("%s: %.2fM parameters, %d train pairs, %d batches, config %s", MODEL_ID, params / 1e6, len(train),
                len(batches), asdict(config))  # fmt: skip

    ckpt_dir = args.checkpoint_dir / MODEL_ID
    state: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "train_seconds": 0.0, "best_dev": math.inf}
    history: list[dict[str, float]] = []
    if args.resume:
        ckpt = torch.load(ckpt_dir / "last.pt", weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        state, history = ckpt["state"], ckpt["history"]
        set_rng_state(ckpt["rng"])
        logger.info("resumed at step %d", state["step"])
    elif (ckpt_dir / "last.pt").exists() and not args.benchmark:
        raise FileExistsError(f"{ckpt_dir / 'last.pt'} exists: pass --resume, or delete it to start over")
    max_steps = state["step"] + args.benchmark if args.benchmark else args.max_steps

    def checkpoint() -> None:
        loss = dev_loss(cast(Seq2SeqRNN, model), dev, dev_batches)  # needs only model(src, tgt_in).logits
        history.append({"step": state["step"], "minutes": round(state["train_seconds"] / 60, 2), "dev_loss": loss})
        logger.info("step %d, %.1f min: dev loss %.4f", state["step"], state["train_seconds"] / 60, loss)
        if loss < state["best_dev"]:
            state["best_dev"] = loss
            save_checkpoint(ckpt_dir / "best.pt", {"model": model.state_dict(), "config": asdict(config)})
        save_checkpoint(ckpt_dir / "last.pt", {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": asdict(config),
            "state": state, "history": history, "rng": rng_state(),
        })  # fmt: skip

    model.train()
    bar = tqdm(total=max_steps, initial=state["step"], desc=MODEL_ID, file=sys.stderr, mininterval=60, unit="step")
    last_save = time.monotonic()
    tokens, seconds = 0, 0.0
    while state["step"] < max_steps:
        order = list(range(len(batches)))
        random.Random(args.seed * 1000 + state["epoch"]).shuffle(order)
        while state["batch"] < len(order) and state["step"] < max_steps:
            src, tgt_in, tgt_out = collate(train, batches[order[state["batch"]]])
            lr = args.lr_factor * warmup_lr(state["step"] + 1, config.d_model, args.warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            t0 = time.process_time()  # CPU time: a run that shares the cores (or is niced) reports its own compute
            logits = model(src, tgt_in).logits
            loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID,
                                   label_smoothing=args.label_smoothing)  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            elapsed = time.process_time() - t0
            state["train_seconds"] += elapsed
            state["step"] += 1
            state["batch"] += 1
            if state["step"] > 3:
                tokens, seconds = tokens + int((tgt_out != PAD_ID).sum()), seconds + elapsed
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.1e}", tok_s=f"{tokens / max(seconds, 1e-9):.0f}",
                            refresh=False)  # fmt: skip
            if not args.benchmark and time.monotonic() - last_save > args.checkpoint_minutes * 60:
                checkpoint()
                last_save = time.monotonic()
        if state["batch"] >= len(order):
            state["epoch"] += 1
            state["batch"] = 0
    bar.close()
    tok_s = tokens / max(seconds, 1e-9)
    if args.benchmark:
        logger.info("benchmark: %.0f target tokens/s over %d steps (threads=%d)", tok_s, args.benchmark, args.threads)
        return
    checkpoint()
    export(args, config, sp, dev, dev_records, state, history, tok_s, len(batches))


def export(args: argparse.Namespace, config: TransformerConfig, sp: Any, dev: list, dev_records: list,
           state: dict[str, Any], history: list, tok_s: float, n_batches: int) -> None:  # fmt: skip
    """Best-dev weights -> fp16 folder; the test split is decoded here, once."""
    model = Transformer(config)
    model.load_state_dict(torch.load(args.checkpoint_dir / MODEL_ID / "best.pt", weights_only=False)["model"])
    out = args.weights_dir / MODEL_ID
    model.save_pretrained(out)
    shutil.copyfile(args.data / "spm.model", out / "spm.model")
    model = Transformer.from_pretrained(out)  # evaluate exactly what ships
    test, test_records = load_split(args.data, "test", sp)
    if args.eval_limit:
        dev, dev_records = dev[: args.eval_limit], dev_records[: args.eval_limit]
        test, test_records = test[: args.eval_limit], test_records[: args.eval_limit]
    # translate_all only calls eval(), train() and greedy(src).tokens, which the Transformer has too.
    decoder = cast(Seq2SeqRNN, model)
    metrics: dict[str, Any] = {
        "model_id": MODEL_ID,
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_bytes": (out / "model.safetensors").stat().st_size,
        "steps": state["step"],
        "epochs": round(state["epoch"] + state["batch"] / n_batches, 2),
        "train_minutes": round(state["train_seconds"] / 60, 2),
        "target_tokens_per_second": round(tok_s),
        "threads": args.threads,
        "best_dev_loss": round(state["best_dev"], 4),
        "dev_greedy": score(translate_all(decoder, dev, sp, beam=1, desc="dev"), [r["es"] for r in dev_records]),
        "test_greedy": score(translate_all(decoder, test, sp, beam=1, desc="test"), [r["es"] for r in test_records]),
        "history": history,
        "protocol": {k: getattr(args, k) for k in ("max_steps", "seed", "batch_tokens", "max_sentences", "max_len",
                                                   "warmup", "lr_factor", "label_smoothing", "clip")},
    }  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "README.md").write_text(
        f"# {MODEL_ID}\n\nThe encoder-decoder Transformer of Vaswani et al. (2017) (models/nets/transformer.py): "
        f"{config.encoder_layers}+{config.decoder_layers} layers, {config.n_heads} heads, d_model {config.d_model}, "
        f"FFN {config.d_ffn}, {metrics['parameters'] / 1e6:.1f}M parameters, fp16 weights "
        f"({metrics['weights_bytes'] / 1e6:.1f} MB).\n\n"
        "Data: World English Bible -> Reina-Valera 1909 verse pairs rebuilt by `python -m models.data.bible_en_es` "
        "(split by hashed chapter; test never used for training or selection), shared 8k SentencePiece vocabulary.\n\n"
        f"Training: {metrics['steps']} steps ({metrics['epochs']} epochs, {metrics['train_minutes']} CPU-minutes on "
        f"{args.threads} thread{'s' if args.threads > 1 else ''}, CPU time summed over threads), "
        f"warm-up schedule (warmup {args.warmup}), label smoothing {args.label_smoothing}; "
        "the checkpoint with the lowest dev loss is exported.\n\n"
        f"Scores (sacreBLEU, detokenised, greedy): test BLEU {metrics['test_greedy']['bleu']}, "
        f"chrF {metrics['test_greedy']['chrf']}; dev BLEU {metrics['dev_greedy']['bleu']}.\n\n"
        "Limits: a small model trained briefly on 1909 Bible Spanish; modern or technical English translates "
        "poorly and in archaic style.\n"
    )
    logger.info("exported %s: test %s", out, metrics["test_greedy"])


if __name__ == "__main__":
    main()
