"""The training loop the translation trainers share, and the helpers every trainer uses.

models/train/rnn.py and models/train/transformer.py train on the same EN->ES verse pairs (data/bible_en_es) with
the same seeded, length-bucketed batches, loop (budget, resumable checkpoints, tqdm bar, lowest dev loss exported)
and export (fp16 folder, spm.model, metrics.json, README.md); they differ in the network, the learning-rate
schedule and the card. models/train/captioner.py uses the thread, clock and checkpoint helpers. A network fits
when it has the methods of `Translator`: nets/seq2seq_rnn.Seq2SeqRNN and nets/transformer.Transformer satisfy it
structurally, without naming it.

Kept as one cohesive file of about 560 lines: it is the whole shared protocol, read top to bottom (network
contract, verse pairs, flags, clock and checkpoints, evaluation, loop, export), and each trainer imports only it.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import torch
from torch import nn
from torch.nn import functional as F

from models.data.bible_en_es import BOS_ID, DEFAULT_OUT, EOS_ID, PAD_ID
from models.train.metrics import score

logger = logging.getLogger(__name__)

Pair = tuple[list[int], list[int]]  # (source ids + eos, target ids)
Record = dict[str, Any]  # one verse of a split: {"ref", "en", "es"}


# ---------------------------------------------------------------------------- what a network must offer
class Logits(Protocol):
    @property
    def logits(self) -> torch.Tensor: ...  # (B, T, V)


class Generated(Protocol):
    @property
    def tokens(self) -> torch.Tensor: ...  # (B, T) ids, EOS included, pad after it


class Translator(Protocol):
    """An encoder-decoder network the loop can train, checkpoint, decode greedily and export."""

    def __call__(self, src: torch.Tensor, tgt_in: torch.Tensor) -> Logits: ...  # src (B, S), tgt_in (B, T)
    def greedy(self, src: torch.Tensor, max_len: int | None = None) -> Generated: ...
    def save_pretrained(self, folder: Path) -> None: ...  # fp16 safetensors + config.json
    def parameters(self) -> Iterator[nn.Parameter]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state_dict: Mapping[str, Any]) -> Any: ...
    def train(self, mode: bool = True) -> Any: ...
    def eval(self) -> Any: ...
    def to(self, device: Any) -> Any: ...


M = TypeVar("M", bound=Translator)


# ---------------------------------------------------------------------------- the verse pairs
def load_split(data: Path, split: str, sp: Any) -> tuple[list[Pair], list[Record]]:
    """Token ids (source with EOS, target without BOS/EOS) and the raw records of a split."""
    return load_pairs(data / f"{split}.jsonl", sp)


def load_pairs(path: Path, sp: Any) -> tuple[list[Pair], list[Record]]:
    """Token ids and records of a jsonl file of {"en", "es", ...} pairs."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
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


def device_of(model: Translator) -> torch.device:
    return next(iter(model.parameters())).device


def collate(
    pairs: list[Pair], idx: list[int], device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> src (B, S), tgt_in (B, T) = bos + target, tgt_out (B, T) = target + eos, on device."""
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
    return src.to(device), tgt_in.to(device), tgt_out.to(device)


@dataclass
class Verses:
    """What the translation trainers read: SentencePiece, pairs (training ones within --max-len), batches."""

    sp: Any
    train: list[Pair]
    dev: list[Pair]
    dev_records: list[Record]
    batches: list[list[int]]
    dev_batches: list[list[int]]


def load_verses(args: argparse.Namespace) -> Verses:
    import sentencepiece as spm

    missing = [str(args.data / path) for _, path in test_sets(args.test_sets) if not (args.data / path).is_file()]
    if missing:  # found now, not after hours of training
        raise FileNotFoundError(f"test set(s) {', '.join(missing)} missing: see --test-sets")
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
    return Verses(sp, train, dev, dev_records, batches, dev_batches)


# ---------------------------------------------------------------------------- command line
def add_protocol_args(p: argparse.ArgumentParser, max_steps: int, max_steps_help: str) -> None:
    """The flags of the shared protocol: data, folders, step budget, checkpoints, seed, batches, loss, evaluation."""
    p.add_argument("--data", type=Path, default=DEFAULT_OUT, help="folder built by models.data.bible_en_es")
    p.add_argument("--weights-dir", type=Path, default=Path("models/weights"), help="export root")
    p.add_argument("--checkpoint-dir", type=Path, default=Path("checkpoints"), help="checkpoint root")
    p.add_argument("--max-steps", type=int, default=max_steps, help=max_steps_help)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0, help="wall minutes between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from <checkpoint-dir>/<model-id>/last.pt")
    p.add_argument("--seed", type=int, default=1234, help="seed for init, dropout and batch order")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--device", default="cpu", help="torch device to train and decode on (cpu, cuda); same protocol")
    p.add_argument("--batch-tokens", type=int, default=2500, help="padded target tokens per batch")
    p.add_argument("--max-sentences", type=int, default=96, help="sentences per batch at most")
    p.add_argument("--max-len", type=int, default=80, help="drop training pairs longer than this (subwords)")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing of the training loss")
    p.add_argument("--eval-limit", type=int, default=0, help="decode only the first N dev/test verses (smoke tests)")
    p.add_argument("--test-sets", nargs="+", default=["test=test.jsonl"], metavar="NAME=FILE",
                   help="test sets scored at export, FILE relative to --data or absolute; metrics <NAME>_greedy; the "
                   "first is also the one beam search and the samples use (e.g. test=../bible_en_es/test.jsonl "
                   "everyday=test_everyday.jsonl for data/en_es_mix)")  # fmt: skip
    p.add_argument("--benchmark", type=int, default=0, help="only time this many steps; report tokens/s")
    p.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start from this exported folder's weights (same config; a second training stage)",
    )


def add_config_args(p: argparse.ArgumentParser, defaults: dict[str, Any], skip: set[str]) -> None:
    """One flag per network config field (--d-model for d_model), except those in skip."""
    for name, default in defaults.items():
        if name in skip:
            continue
        kind = (lambda s: s.lower() in ("1", "true", "yes")) if isinstance(default, bool) else type(default)
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=f"model config ({default})")


# ---------------------------------------------------------------------------- threads, seeds, clock, checkpoints
def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # can only be set once per process (tests call main() more than once)
        pass


def seed_all(seed: int) -> None:
    """Seed Python's and torch's generators (weight init, dropout)."""
    random.seed(seed)
    torch.manual_seed(seed)


class Stopwatch:
    """Training compute in seconds, summed over the blocks run `with` it, read from `clock`: process CPU time by
    default, so a run that shares the cores (or is niced) counts only its own compute, summed over its threads."""

    def __init__(self, seconds: float = 0.0, clock: Callable[[], float] = time.process_time) -> None:
        self.seconds, self.last, self.clock, self._start = seconds, 0.0, clock, 0.0  # total, latest block

    def __enter__(self) -> Stopwatch:
        self._start = self.clock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.last = self.clock() - self._start
        self.seconds += self.last


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save through a temporary file, so a run killed while saving keeps the previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def dev_loss(model: Translator, pairs: list[Pair], batches: list[list[int]]) -> float:
    """Mean per-token cross-entropy (no label smoothing)."""
    model.eval()
    total, tokens = 0.0, 0
    for idx in batches:
        src, tgt_in, tgt_out = collate(pairs, idx, device_of(model))
        logits = model(src, tgt_in).logits  # (B, T, V)
        total += float(F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID, reduction="sum"))
        tokens += int((tgt_out != PAD_ID).sum())
    model.train()
    return total / max(tokens, 1)


def strip_ids(ids: list[int]) -> list[int]:
    """The ids before the first EOS, padding dropped."""
    ids = ids[: ids.index(EOS_ID)] if EOS_ID in ids else ids
    return [i for i in ids if i != PAD_ID]


@torch.no_grad()
def translate_greedy(model: Translator, pairs: list[Pair], sp: Any, desc: str = "", batch: int = 64) -> list[str]:
    """Greedy translation of every source, batched by length, as detokenised text."""
    from tqdm import tqdm

    model.eval()
    hyps: list[str] = [""] * len(pairs)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    chunks = [order[i : i + batch] for i in range(0, len(order), batch)]
    for idx in tqdm(chunks, desc=desc, file=sys.stderr, mininterval=10, disable=None):
        src, _, _ = collate(pairs, idx, device_of(model))
        out = model.greedy(src)
        for row, i in enumerate(idx):
            hyps[i] = sp.decode(strip_ids(out.tokens[row].tolist()))
    model.train()
    return hyps


# ---------------------------------------------------------------------------- the loop
@dataclass
class Budget:
    """Training a run gets: seconds of its clock (math.inf: none) and/or optimiser steps (0: none)."""

    seconds: float = math.inf
    steps: int = 0

    def spent(self, state: dict[str, Any]) -> bool:
        return state["train_seconds"] >= self.seconds or (self.steps > 0 and state["step"] >= self.steps)

    def fraction(self, state: dict[str, Any]) -> float:
        """Share of the budget used, the larger of the time and step shares."""
        fractions = [state["train_seconds"] / self.seconds if math.isfinite(self.seconds) else 0.0]
        if self.steps:
            fractions.append(state["step"] / self.steps)
        return min(1.0, max(fractions))


@dataclass
class Trained:
    """What fit() leaves for export: the loop state, the dev-loss history and the measured target tokens/s."""

    state: dict[str, Any]  # step, epoch, batch (within the epoch), train_seconds, best_dev
    history: list[dict[str, float]]
    tokens_per_second: float


def fit(
    model: Translator, optimizer: torch.optim.Optimizer, lr_at: Callable[[int, float], float], verses: Verses,
    args: argparse.Namespace, model_id: str, config: dict[str, Any], budget: Budget,
    clock: Callable[[], float] = time.process_time, stop_at_step: int = 0,
) -> Trained | None:  # fmt: skip
    """Train until the budget is spent (or stop_at_step), checkpointing to <checkpoint-dir>/<model_id>/last.pt
    every --checkpoint-minutes with the dev loss, best.pt at the lowest; None when there is nothing to export
    (--benchmark, or stopped at stop_at_step). lr_at(step, budget fraction used) is the learning rate of the step
    about to run; args holds the flags of add_protocol_args; config is the network config, checked on --resume."""
    from tqdm import tqdm

    ckpt_dir = args.checkpoint_dir / model_id
    state: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "train_seconds": 0.0, "best_dev": math.inf}
    history: list[dict[str, float]] = []
    if args.resume:
        last = ckpt_dir / "last.pt"
        if not last.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {last}")
        ckpt = torch.load(last, weights_only=False, map_location=device_of(model))
        if ckpt["config"] != config:
            raise ValueError(f"checkpoint config {ckpt['config']} differs from {config}")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        state, history = ckpt["state"], ckpt["history"]
        set_rng_state(ckpt["rng"])
        logger.info("resumed from %s at step %d (%.1f min trained)", last, state["step"], state["train_seconds"] / 60)
    elif (ckpt_dir / "last.pt").exists() and not args.benchmark:
        raise FileExistsError(f"{ckpt_dir / 'last.pt'} exists: pass --resume, or delete it to start over")
    if getattr(args, "init_from", None) is not None and not args.resume:
        state["init"] = init_from(model, args.init_from, config)
    if args.benchmark:
        budget = Budget(math.inf, state["step"] + args.benchmark)

    def checkpoint() -> None:
        loss = dev_loss(model, verses.dev, verses.dev_batches)
        history.append({"step": state["step"], "minutes": round(state["train_seconds"] / 60, 2), "dev_loss": loss})
        logger.info("step %d, %.1f min: dev loss %.4f", state["step"], state["train_seconds"] / 60, loss)
        if loss < state["best_dev"]:
            state["best_dev"] = loss
            save_checkpoint(ckpt_dir / "best.pt", {"model": model.state_dict(), "config": config})
        save_checkpoint(ckpt_dir / "last.pt", {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": config, "state": state,
            "history": history, "rng": rng_state(), "args": {k: str(v) for k, v in vars(args).items()},
        })  # fmt: skip

    def stopped() -> bool:
        return stop_at_step > 0 and state["step"] >= stop_at_step

    timed = math.isfinite(budget.seconds)  # the bar counts minutes, else steps
    bar = tqdm(total=round(budget.seconds / 60, 1) if timed else budget.steps, unit="min" if timed else "step",
               initial=round(state["train_seconds"] / 60, 1) if timed else state["step"], desc=model_id,
               file=sys.stderr, mininterval=5 if sys.stderr.isatty() else 60,
               bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} {unit} [{elapsed}<{remaining}{postfix}]")  # fmt: skip
    model.train()
    watch = Stopwatch(state["train_seconds"], clock)
    last_save = time.monotonic()
    bench_tokens, bench_seconds = 0, 0.0
    while not budget.spent(state) and not stopped():
        order = list(range(len(verses.batches)))
        random.Random(args.seed * 1000 + state["epoch"]).shuffle(order)
        while state["batch"] < len(order) and not budget.spent(state) and not stopped():
            src, tgt_in, tgt_out = collate(verses.train, verses.batches[order[state["batch"]]], args.device)
            lr = lr_at(state["step"], budget.fraction(state))
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            with watch:
                logits = model(src, tgt_in).logits  # (B, T, V)
                loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID,
                                       label_smoothing=args.label_smoothing)  # fmt: skip
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
                optimizer.step()
            state["train_seconds"] = watch.seconds
            state["step"] += 1
            state["batch"] += 1
            if state["step"] > 3:  # skip warm-up steps in the tokens/s figure
                bench_tokens += int((tgt_out != PAD_ID).sum())
                bench_seconds += watch.last
            bar.n = round(state["train_seconds"] / 60, 1) if timed else state["step"]
            tok_s = bench_tokens / max(bench_seconds, 1e-9)
            bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{tok_s:.0f}", lr=f"{lr:.1e}", refresh=False)
            if state["step"] % 50 == 0:
                bar.refresh()
            if state["step"] % 200 == 0:
                logger.info(
                    "step %d epoch %d: loss %.3f, %.0f target tok/s, %.1f/%.1f min",
                    state["step"], state["epoch"], loss.item(), tok_s, state["train_seconds"] / 60, budget.seconds / 60,
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
        return None
    checkpoint()
    if stopped():
        logger.info("stopped at step %d; continue with --resume", state["step"])
        return None
    return Trained(state, history, tok_s)


def init_from(model: Translator, folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Load an exported folder's weights (fp16 -> the model's dtype) into model, the start of a second stage;
    returns what the card says of the first stage (its steps, epochs, minutes, device, protocol)."""
    from safetensors.torch import load_file

    saved = json.loads((folder / "config.json").read_text())
    saved.pop("architecture", None)
    if any(config.get(k) != v for k, v in saved.items()):  # a field newer than the folder: its default, as loaded
        raise ValueError(f"--init-from {folder}: config {saved} differs from {config}")
    model.load_state_dict({k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()})
    first = json.loads((folder / "metrics.json").read_text())
    logger.info("starting from %s (%s steps)", folder, first.get("steps"))
    return {
        "folder": str(folder),
        **{k: first.get(k) for k in ("steps", "epochs", "train_minutes", "device", "threads", "protocol", "init")},
    }


# ---------------------------------------------------------------------------- export
@dataclass
class Export(Generic[M]):
    """An exported model and its first metrics: `model` is reloaded from `out`, exactly what ships (fp16)."""

    model: M
    out: Path
    metrics: dict[str, Any]
    test: list[Pair]  # test pairs and records, cut to --eval-limit
    test_records: list[Record]


def export(
    model: M, load: Callable[[Path], M], args: argparse.Namespace, model_id: str, verses: Verses, trained: Trained,
    data_counts: bool = False,
) -> Export[M]:  # fmt: skip
    """Best-dev weights -> <weights-dir>/<model_id>/ (fp16 weights, config.json, spm.model) and the metrics every
    translation model reports (greedy dev and test BLEU/chrF); the test split is decoded here, once. model: a fresh
    network of the trained config; load: its from_pretrained. data_counts adds train_pairs and eval_verses."""
    best = torch.load(args.checkpoint_dir / model_id / "best.pt", weights_only=False, map_location="cpu")
    model.load_state_dict(best["model"])
    model.eval()
    tests = {name: load_pairs(args.data / path, verses.sp) for name, path in test_sets(args.test_sets)}
    dev, dev_records = verses.dev, verses.dev_records
    if args.eval_limit:
        dev, dev_records = dev[: args.eval_limit], dev_records[: args.eval_limit]
        tests = {name: (p[: args.eval_limit], r[: args.eval_limit]) for name, (p, r) in tests.items()}
    test, test_records = next(iter(tests.values()))
    out = args.weights_dir / model_id
    model.save_pretrained(out)
    shutil.copyfile(args.data / "spm.model", out / "spm.model")
    model = load(out)  # evaluate exactly what ships (fp16 weights)
    model.to(args.device)
    state = trained.state
    sizes = {"dev": len(dev), **{name: len(pairs) for name, (pairs, _) in tests.items()}}
    counts = {"train_pairs": len(verses.train), "eval_verses": sizes}
    metrics: dict[str, Any] = {
        "model_id": model_id,
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_bytes": (out / "model.safetensors").stat().st_size,
        "steps": state["step"],
        "epochs": round(state["epoch"] + state["batch"] / len(verses.batches), 2),
        "train_minutes": round(state["train_seconds"] / 60, 2),
        **(counts if data_counts else {}),
        "target_tokens_per_second": round(trained.tokens_per_second),
        "threads": args.threads,
        "device": str(args.device),
        "data": args.data.name,
        "best_dev_loss": round(state["best_dev"], 4),
        **({"init": state["init"]} if state.get("init") else {}),
        "dev_greedy": score(translate_greedy(model, dev, verses.sp, desc="dev greedy"), [r["es"] for r in dev_records]),
        **{f"{name}_greedy": score(translate_greedy(model, pairs, verses.sp, desc=f"{name} greedy"),
                                   [r["es"] for r in records]) for name, (pairs, records) in tests.items()},
    }  # fmt: skip
    return Export(model, out, metrics, test, test_records)


DATA_TEXT = {
    "bible_en_es": (
        "World English Bible (engWEB2015eb, Debian sword-text-web) paired with Reina-Valera 1909 (spaRV1909eb, "
        "sword-text-sparv) by book/chapter/verse, both public domain; split by chapter hash (5% test, 5% dev); "
        "built by `python -m models.data.bible_en_es`."
    ),
    "en_es_mix": (
        "The everyday mix of data/en_es_mix (`make data`, models/data/everyday_en_es.py): the Bible verse pairs, "
        "human translations from LibreOffice help and interface catalogs, system gettext catalogs and GNOME help, "
        "and everyday English (WordNet examples, fortunes) translated by Apertium; split by document, 81.6k "
        "training pairs, an 8k SentencePiece vocabulary. Counts and licences: docs/data-card-en-es-mix.md. "
        "Tested on the held-out Bible chapters and on the everyday test set (Tux Paint captions and held-out "
        "LibreOffice help pages, human translations)."
    ),
}


def data_text(metrics: Mapping[str, Any]) -> str:
    """What a model learned from, for its card: the data folder named in metrics.json (Bible-only before it)."""
    return DATA_TEXT.get(str(metrics.get("data", "bible_en_es")), f"data/{metrics.get('data')}")


def results_lines(metrics: Mapping[str, Any]) -> list[str]:
    """One card line per scored test set and decoding: BLEU and chrF (sacreBLEU 13a)."""
    names = {"test": "Bible test (held-out chapters)", "everyday": "everyday test set", "dev": "dev"}
    lines = []
    for key, value in metrics.items():
        if isinstance(value, dict) and "bleu" in value and not key.startswith("dev"):
            split, _, decoding = key.partition("_")
            lines.append(f"- {names.get(split, split)}, {decoding}: BLEU {value['bleu']}, chrF {value['chrf']}")
    return [*lines, "", TYPED_INPUT] if lines else lines


TYPED_INPUT = (
    "Measured when trained, on the test sentences as written. The service capitalises the first letter of an input "
    "without a single capital letter, as the training sentences begin (chosen on dev: reports/typed_input.md); "
    "`make eval` measures with that rule (reports/translation_eval.md, reports/everyday_eval.md)."
)


def trained_on(metrics: Mapping[str, Any]) -> str:
    """'1600 steps, 1.3 min of process CPU time on cuda' for a card."""
    device = metrics.get("device", "cpu")
    where = (
        "a GPU (same protocol; the minutes are host CPU time)"
        if device.startswith("cuda")
        else (f"CPU, {metrics.get('threads', 1)} thread(s)")
    )
    text = f"{metrics['steps']} steps ({metrics.get('epochs')} epochs), {metrics['train_minutes']} min on {where}"
    first = metrics.get("init")
    if first:  # a second stage: the first one's steps, then these from its exported weights
        text = f"{trained_on(first)}, then a second stage from those weights: {text}"
    return text


def test_sets(specs: list[str]) -> list[tuple[str, Path]]:
    """["name=file", ...] -> [(name, Path(file))]; ValueError naming a malformed or repeated entry."""
    sets: list[tuple[str, Path]] = []
    for spec in specs:
        name, _, file = spec.partition("=")
        if not name.isidentifier() or not file or name in {n for n, _ in sets}:
            raise ValueError(f"--test-sets takes distinct NAME=FILE entries, got {spec!r}")
        sets.append((name, Path(file)))
    return sets


def write_outputs(out: Path, metrics: dict[str, Any], card: str) -> None:
    """metrics.json and the model card (README.md) of an exported folder."""
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "README.md").write_text(card)
    logger.info("exported %s: %s", out, {k: v for k, v in metrics.items() if k.startswith(("test", "dev"))})
