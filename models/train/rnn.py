"""Train one GRU encoder-decoder variant (models/nets/seq2seq_rnn.py) on the EN->ES verse pairs.

Every variant gets the same protocol: same data (data/bible_en_es, built by
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
import os
import random
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from models.data.bible_en_es import BOS_ID, DEFAULT_OUT, EOS_ID, PAD_ID
from models.nets.seq2seq_rnn import Seq2SeqConfig, Seq2SeqRNN
from models.train.metrics import score

logger = logging.getLogger("train_rnn")

Pair = tuple[list[int], list[int]]  # (source ids + eos, target ids)


# ---------------------------------------------------------------------------- data
def load_split(data: Path, split: str, sp: Any) -> tuple[list[Pair], list[dict[str, Any]]]:
    """Token ids (source with EOS, target without BOS/EOS) and the raw records of a split."""
    records = [json.loads(line) for line in (data / f"{split}.jsonl").read_text().splitlines()]
    src = sp.encode([r["en"] for r in records])
    tgt = sp.encode([r["es"] for r in records])
    return [(s + [EOS_ID], t) for s, t in zip(src, tgt, strict=True)], records


def make_batches(pairs: list[Pair], batch_tokens: int, max_sentences: int) -> list[list[int]]:
    """Length-bucketed batches of pair indices: each holds <= batch_tokens padded tokens."""
    order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][0]), len(pairs[i][1]), i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        length = max(len(pairs[i][0]), len(pairs[i][1]) + 1)
        if current and (max(longest, length) * (len(current) + 1) > batch_tokens or len(current) >= max_sentences):
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, length)
    if current:
        batches.append(current)
    return batches


def collate(pairs: list[Pair], idx: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> src (B, S), tgt_in (B, T) = bos + target, tgt_out (B, T) = target + eos."""
    S = max(len(pairs[i][0]) for i in idx)
    T = max(len(pairs[i][1]) for i in idx) + 1
    src = torch.full((len(idx), S), PAD_ID, dtype=torch.long)
    tgt_in = torch.full((len(idx), T), PAD_ID, dtype=torch.long)
    tgt_out = torch.full((len(idx), T), PAD_ID, dtype=torch.long)
    for row, i in enumerate(idx):
        s, t = pairs[i]
        src[row, : len(s)] = torch.tensor(s)
        tgt_in[row, : len(t) + 1] = torch.tensor([BOS_ID, *t])
        tgt_out[row, : len(t) + 1] = torch.tensor([*t, EOS_ID])
    return src, tgt_in, tgt_out


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def dev_loss(model: Seq2SeqRNN, pairs: list[Pair], batches: list[list[int]]) -> float:
    """Mean per-token cross-entropy (no label smoothing)."""
    model.eval()
    total, tokens = 0.0, 0
    for idx in batches:
        src, tgt_in, tgt_out = collate(pairs, idx)
        logits = model(src, tgt_in).logits
        total += float(F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID, reduction="sum"))
        tokens += int((tgt_out != PAD_ID).sum())
    model.train()
    return total / max(tokens, 1)


def strip_ids(ids: list[int]) -> list[int]:
    out = []
    for i in ids:
        if i == EOS_ID:
            break
        if i != PAD_ID:
            out.append(i)
    return out


@torch.no_grad()
def translate_all(
    model: Seq2SeqRNN, pairs: list[Pair], sp: Any, beam: int, batch_sentences: int = 64, desc: str = ""
) -> list[str]:
    """Decode every source (greedy when beam == 1, else beam search) into detokenised text."""
    from tqdm import tqdm

    model.eval()
    hyps: list[str] = [""] * len(pairs)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    chunks = [order[i : i + batch_sentences] for i in range(0, len(order), batch_sentences)] if beam == 1 else None
    if chunks is not None:
        for idx in tqdm(chunks, desc=desc, file=sys.stderr, mininterval=10, disable=None):
            src, _, _ = collate(pairs, idx)
            out = model.greedy(src)
            for row, i in enumerate(idx):
                hyps[i] = sp.decode(strip_ids(out.tokens[row].tolist()))
    else:
        for i in tqdm(order, desc=desc, file=sys.stderr, mininterval=10, disable=None):
            src = torch.tensor([pairs[i][0]])
            out = model.beam_search(src, beam_size=beam)
            hyps[i] = sp.decode(strip_ids(out.tokens[0].tolist()))
    model.train()
    return hyps




# ---------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])


# ---------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a GRU seq2seq EN->ES variant.")
    p.add_argument("--attention", default="additive", help="score function name, or 'none'")
    p.add_argument("--model-id", default=None, help="default: rnn-<attention>-en-es")
    p.add_argument("--data", type=Path, default=DEFAULT_OUT, help="folder built by models.data.bible_en_es")
    p.add_argument("--weights-dir", type=Path, default=Path("models/weights"), help="export root")
    p.add_argument("--checkpoint-dir", type=Path, default=Path("checkpoints"), help="checkpoint root")
    p.add_argument("--minutes", type=float, default=35.0, help="budget of training compute, in minutes")
    p.add_argument("--max-steps", type=int, default=0, help="step budget (0: none)")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0, help="wall minutes between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from <checkpoint-dir>/<model-id>/last.pt")
    p.add_argument("--seed", type=int, default=1234, help="seed for init, dropout and batch order")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--batch-tokens", type=int, default=2500, help="padded target tokens per batch")
    p.add_argument("--max-sentences", type=int, default=96, help="sentences per batch at most")
    p.add_argument("--max-len", type=int, default=80, help="drop training pairs longer than this (subwords)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (constant, then linear decay)")
    p.add_argument("--decay-from", type=float, default=0.5, help="budget fraction where lr decay starts")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing of the training loss")
    p.add_argument("--beam", type=int, default=5, help="beam size for the final test decoding")
    p.add_argument("--eval-limit", type=int, default=0, help="decode only the first N dev/test verses (smoke tests)")
    p.add_argument("--stop-at-step", type=int, default=0, help="checkpoint and exit at this step (resume later)")
    p.add_argument("--benchmark", type=int, default=0, help="only time this many steps; report tokens/s")
    for name, default in asdict(Seq2SeqConfig()).items():
        if name in ("attention", "vocab_size", "pad_id", "bos_id", "eos_id"):
            continue
        kind = (lambda s: s.lower() in ("1", "true", "yes")) if isinstance(default, bool) else type(default)
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=f"model config ({default})")
    return p.parse_args(argv)


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # can only be set once per process (tests call main() more than once)
        pass


def prepare_data(
    args: argparse.Namespace,
) -> tuple[Any, list[Pair], list[Pair], list[dict[str, Any]], list[list[int]], list[list[int]]]:
    """SentencePiece, training pairs within --max-len, dev pairs and records, train and dev batches:
    the same for every model trained on the verse pairs."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(args.data / "spm.model"))
    train_all, _ = load_split(args.data, "train", sp)
    train = [p for p in train_all if len(p[0]) <= args.max_len and len(p[1]) + 1 <= args.max_len]
    dev, dev_records = load_split(args.data, "dev", sp)
    batches = make_batches(train, args.batch_tokens, args.max_sentences)
    dev_batches = make_batches(dev, 4 * args.batch_tokens, 256)
    target_tokens = sum(len(t) + 1 for _, t in train)
    logger.info(
        "train %d/%d pairs (<= %d subwords), %d batches, %d target tokens per epoch; dev %d",
        len(train), len(train_all), args.max_len, len(batches), target_tokens, len(dev),
    )  # fmt: skip
    return sp, train, dev, dev_records, batches, dev_batches


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    set_threads(args.threads)
    from tqdm import tqdm

    model_id = args.model_id or f"rnn-{args.attention.replace('_', '-')}-en-es"
    ckpt_dir = args.checkpoint_dir / model_id
    sp, train, dev, dev_records, batches, dev_batches = prepare_data(args)

    config_fields = {k: getattr(args, k) for k in asdict(Seq2SeqConfig()) if hasattr(args, k)}
    config = Seq2SeqConfig(**{**config_fields, "attention": args.attention, "vocab_size": sp.get_piece_size()})
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    model = Seq2SeqRNN(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    logger.info("%s: %.2fM parameters, config %s", model_id, model.num_parameters() / 1e6, asdict(config))

    state: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "train_seconds": 0.0, "best_dev": math.inf}
    history: list[dict[str, float]] = []
    if args.resume:
        last = ckpt_dir / "last.pt"
        if not last.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {last}")
        ckpt = torch.load(last, weights_only=False)
        if ckpt["config"] != asdict(config):
            raise ValueError(f"checkpoint config {ckpt['config']} differs from {asdict(config)}")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        state, history = ckpt["state"], ckpt["history"]
        set_rng_state(ckpt["rng"])
        logger.info("resumed from %s at step %d (%.1f min trained)", last, state["step"], state["train_seconds"] / 60)
    elif (ckpt_dir / "last.pt").exists() and not args.benchmark:
        raise FileExistsError(f"{ckpt_dir / 'last.pt'} exists: pass --resume, or delete it to start over")

    budget = args.minutes * 60
    if args.benchmark:
        budget, args.max_steps = math.inf, state["step"] + args.benchmark

    def out_of_budget() -> bool:
        return state["train_seconds"] >= budget or (args.max_steps > 0 and state["step"] >= args.max_steps)

    def progress() -> float:
        fractions = [state["train_seconds"] / budget if math.isfinite(budget) else 0.0]
        if args.max_steps:
            fractions.append(state["step"] / args.max_steps)
        return min(1.0, max(fractions))

    def checkpoint() -> None:
        loss = dev_loss(model, dev, dev_batches)
        history.append({"step": state["step"], "minutes": round(state["train_seconds"] / 60, 2), "dev_loss": loss})
        logger.info("step %d, %.1f min: dev loss %.4f", state["step"], state["train_seconds"] / 60, loss)
        if loss < state["best_dev"]:
            state["best_dev"] = loss
            save_checkpoint(ckpt_dir / "best.pt", {"model": model.state_dict(), "config": asdict(config)})
        save_checkpoint(
            ckpt_dir / "last.pt",
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "config": asdict(config),
                "state": state,
                "history": history,
                "rng": rng_state(),
                "args": {k: str(v) for k, v in vars(args).items()},
            },
        )

    model.train()
    bar = tqdm(
        total=round(budget / 60, 1) if math.isfinite(budget) else args.max_steps,
        initial=round(state["train_seconds"] / 60, 1) if math.isfinite(budget) else state["step"],
        unit="min" if math.isfinite(budget) else "step",
        desc=model_id,
        file=sys.stderr,
        mininterval=5 if sys.stderr.isatty() else 60,
        bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} {unit} [{elapsed}<{remaining}{postfix}]",
    )
    last_save = time.monotonic()
    bench_tokens, bench_seconds = 0, 0.0

    def interrupted() -> bool:
        return args.stop_at_step > 0 and state["step"] >= args.stop_at_step

    while not out_of_budget() and not interrupted():
        order = list(range(len(batches)))
        random.Random(args.seed * 1000 + state["epoch"]).shuffle(order)
        while state["batch"] < len(order) and not out_of_budget() and not interrupted():
            idx = batches[order[state["batch"]]]
            src, tgt_in, tgt_out = collate(train, idx)
            lr = args.lr * (1.0 - 0.9 * max(0.0, progress() - args.decay_from) / (1.0 - args.decay_from))
            for group in optimizer.param_groups:
                group["lr"] = lr
            t0 = time.monotonic()
            logits = model(src, tgt_in).logits
            loss = F.cross_entropy(
                logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID, label_smoothing=args.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            seconds = time.monotonic() - t0
            n_tokens = int((tgt_out != PAD_ID).sum())
            state["train_seconds"] += seconds
            state["step"] += 1
            state["batch"] += 1
            if state["step"] > 3:  # skip warm-up steps in the tokens/s figure
                bench_tokens, bench_seconds = bench_tokens + n_tokens, bench_seconds + seconds
            if math.isfinite(budget):
                bar.n = round(state["train_seconds"] / 60, 1)
            else:
                bar.n = state["step"]
            bar.set_postfix(
                loss=f"{loss.item():.3f}",
                tok_s=f"{bench_tokens / max(bench_seconds, 1e-9):.0f}",
                lr=f"{lr:.1e}",
                refresh=False,
            )
            if state["step"] % 50 == 0:
                bar.refresh()
            if state["step"] % 200 == 0:
                logger.info(
                    "step %d epoch %d: loss %.3f, %.0f target tok/s, %.1f/%.1f min",
                    state["step"], state["epoch"], loss.item(), bench_tokens / max(bench_seconds, 1e-9),
                    state["train_seconds"] / 60, budget / 60,
                )  # fmt: skip
            if not args.benchmark and time.monotonic() - last_save > args.checkpoint_minutes * 60:
                checkpoint()
                last_save = time.monotonic()
        if state["batch"] >= len(order):
            state["epoch"] += 1
            state["batch"] = 0
    bar.close()
    tok_s = bench_tokens / max(bench_seconds, 1e-9)
    if args.benchmark:
        logger.info("benchmark %s: %.0f target tokens/s over %d steps (threads=%d)", model_id, tok_s, args.benchmark,
                    args.threads)  # fmt: skip
        return
    checkpoint()
    if interrupted():
        logger.info("stopped at step %d; continue with --resume", state["step"])
        return
    export(args, model_id, config, ckpt_dir, sp, dev, dev_records, state, history, tok_s, len(train), len(batches))


def export(
    args: argparse.Namespace,
    model_id: str,
    config: Seq2SeqConfig,
    ckpt_dir: Path,
    sp: Any,
    dev: list[Pair],
    dev_records: list[dict[str, Any]],
    state: dict[str, Any],
    history: list[dict[str, float]],
    tok_s: float,
    n_train: int,
    n_batches: int,
) -> None:
    """Best-dev weights -> fp16 folder with vocab, metrics and model card; test decoded here only."""
    model = Seq2SeqRNN(config)
    model.load_state_dict(torch.load(ckpt_dir / "best.pt", weights_only=False)["model"])
    model.eval()
    test, test_records = load_split(args.data, "test", sp)
    if args.eval_limit:
        dev, dev_records = dev[: args.eval_limit], dev_records[: args.eval_limit]
        test, test_records = test[: args.eval_limit], test_records[: args.eval_limit]
    out = args.weights_dir / model_id
    model.save_pretrained(out)
    shutil.copyfile(args.data / "spm.model", out / "spm.model")
    model = Seq2SeqRNN.from_pretrained(out)  # evaluate exactly what ships (fp16 weights)
    dev_refs = [r["es"] for r in dev_records]
    test_refs = [r["es"] for r in test_records]
    metrics: dict[str, Any] = {
        "model_id": model_id,
        "parameters": model.num_parameters(),
        "weights_bytes": (out / "model.safetensors").stat().st_size,
        "steps": state["step"],
        "epochs": round(state["epoch"] + state["batch"] / n_batches, 2),
        "train_minutes": round(state["train_seconds"] / 60, 2),
        "train_pairs": n_train,
        "eval_verses": {"dev": len(dev), "test": len(test)},
        "target_tokens_per_second": round(tok_s),
        "threads": args.threads,
        "best_dev_loss": round(state["best_dev"], 4),
        "dev_greedy": score(translate_all(model, dev, sp, beam=1, desc="dev greedy"), dev_refs),
        "test_greedy": score(translate_all(model, test, sp, beam=1, desc="test greedy"), test_refs),
    }
    if args.beam > 1:
        hyps = translate_all(model, test, sp, beam=args.beam, desc=f"test beam {args.beam}")
        metrics[f"test_beam{args.beam}"] = score(hyps, test_refs)
        samples = [
            {"ref": r["ref"], "en": r["en"], "es": r["es"], "hyp": h} for r, h in zip(test_records, hyps, strict=True)
        ]
        (out / "test_samples.json").write_text(json.dumps(samples[:20], ensure_ascii=False, indent=1) + "\n")
    metrics["history"] = history
    metrics["protocol"] = {
        k: getattr(args, k)
        for k in ("minutes", "max_steps", "seed", "batch_tokens", "max_sentences", "max_len", "lr", "decay_from",
                  "clip", "label_smoothing", "beam")
    }  # fmt: skip
    if not math.isfinite(metrics["protocol"]["minutes"]):
        metrics["protocol"]["minutes"] = None  # no time budget (JSON has no Infinity)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_card(out, model_id, config, metrics)
    logger.info("exported %s: %s", out, {k: v for k, v in metrics.items() if k.startswith(("test", "dev"))})


def write_card(out: Path, model_id: str, config: Seq2SeqConfig, metrics: dict[str, Any]) -> None:
    beam = {k: v for k, v in metrics.items() if k.startswith("test_beam")}
    score_name = config.attention if config.attention != "none" else "none (fixed context, Cho et al. 2014)"
    lines = [
        f"# {model_id}",
        "",
        "GRU encoder-decoder for English -> Spanish verse translation, trained from scratch",
        "in this project to show encoder-decoder attention (models/nets/seq2seq_rnn.py).",
        "",
        f"- Attention score: {score_name}",
        f"- Encoder: {'bidirectional ' if config.bidirectional else ''}GRU, {config.enc_hidden} per direction; "
        f"decoder GRU {config.dec_hidden} with input feeding; tied {config.emb_dim}-d embeddings",
        f"- Vocabulary: shared SentencePiece unigram, {config.vocab_size} pieces (spm.model)",
        f"- Parameters: {metrics['parameters'] / 1e6:.2f}M, "
        f"stored as float16 ({metrics['weights_bytes'] / 1e6:.1f} MB)",
        f"- Training: {metrics['train_minutes']} min of CPU compute ({metrics['threads']} thread), "
        f"{metrics['steps']} steps, seed {metrics['protocol']['seed']}",
        "",
        "## Data",
        "World English Bible (engWEB2015eb, Debian sword-text-web) paired with Reina-Valera 1909",
        "(spaRV1909eb, sword-text-sparv) by book/chapter/verse; both public domain. Split by chapter",
        "hash (5% test, 5% dev); built by `python -m models.data.bible_en_es`.",
        "",
        "## Results (test split, sacreBLEU 13a / chrF)",
        f"- greedy: BLEU {metrics['test_greedy']['bleu']}, chrF {metrics['test_greedy']['chrf']}",
        *[f"- {k.removeprefix('test_')}: BLEU {v['bleu']}, chrF {v['chrf']}" for k, v in beam.items()],
        "",
        "## Limitations",
        "Trained for minutes on ~27k Bible verses: archaic 1909 Spanish, religious vocabulary, and",
        "poor translations of modern text. Meant for looking at attention maps, not for translating.",
        "",
        "License: weights Apache-2.0 (training data public domain).",
    ]
    (out / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
