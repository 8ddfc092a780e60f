"""Decode the test verses with every trained EN->ES model: greedy translations, and the word-level
cross-attention of forced decoding of the reference (teacher forcing, so the attention rows belong to
the reference words). Runs are cached in reports/.cache/ by the sha256 of the weights and of the split.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.evaluate.alignment import merge_pieces, piece_words
from models.evaluate.verses import DATA, TestVerse, weights_key
from models.serve.pieces import read_as

logger = logging.getLogger(__name__)

BATCH_SENTENCES = 64


@dataclass(frozen=True)
class ModelRun:
    """One model on the test split.

    hyps: greedy translations, one per verse.
    attention: per verse the word-level cross-attention (Spanish reference words, English words)
        of forced decoding of the reference; None for a model without attention.
    """

    hyps: list[str]
    attention: list[np.ndarray] | None


def _batches(lengths: Sequence[int], size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + size] for i in range(0, len(order), size)]


def _pad(rows: Sequence[Sequence[int]], pad_id: int) -> Any:
    import torch

    out = torch.full((len(rows), max(len(r) for r in rows)), pad_id, dtype=torch.long)
    for k, row in enumerate(rows):
        out[k, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def _strip(ids: Sequence[int], eos_id: int, pad_id: int) -> list[int]:
    out = []
    for i in ids:
        if i == eos_id:
            break
        if i != pad_id:
            out.append(int(i))
    return out


def english_pieces(sp: Any, verses: Sequence[TestVerse], casing: bool) -> list[list[str]]:
    """Each verse's English as pieces, read as the served models read it (models.serve.pieces.read_as) with casing,
    else as written."""
    return [sp.encode(read_as(sp, v.en) if casing else v.en, out_type=str) for v in verses]


def run_seq2seq(
    sp: Any,
    verses: Sequence[TestVerse],
    greedy: Callable[[Any], Any],
    forced: Callable[[Any, Any], Any] | None,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    casing: bool = True,
) -> ModelRun:
    """Shared driver for encoder-decoder models on SentencePiece ids.

    greedy(src (B, S)) -> generated ids (B, T); forced(src (B, S), tgt_in (B, T)) -> piece-level
    cross-attention (B, T, S) or None. Sources get EOS appended (and, with casing, go through
    models.serve.pieces.read_as as the served models' inputs do); targets are bos + reference."""
    import torch

    src_pieces = english_pieces(sp, verses, casing)
    src_ids = [[*sp.piece_to_id(p), eos_id] for p in src_pieces]
    hyps = [""] * len(verses)
    with torch.inference_mode():
        for n, idx in enumerate(_batches([len(s) for s in src_ids], BATCH_SENTENCES)):
            tokens = greedy(_pad([src_ids[i] for i in idx], pad_id))
            for row, i in enumerate(idx):
                hyps[i] = sp.decode(_strip(tokens[row].tolist(), eos_id, pad_id))
            logger.info("greedy batch %d: %d verses", n + 1, len(idx))
    if forced is None:
        return ModelRun(hyps, None)
    return ModelRun(hyps, forced_word_attention(sp, verses, forced, bos_id, eos_id, pad_id, casing))


def forced_word_attention(
    sp: Any,
    verses: Sequence[TestVerse],
    forced: Callable[[Any, Any], Any],
    bos_id: int,
    eos_id: int,
    pad_id: int,
    casing: bool = True,
) -> list[np.ndarray]:
    """Teacher-force each reference; forced(src (B, S), tgt_in (B, T)) -> cross-attention (B, ..., T, S),
    any readout dimensions (layers, heads) between. Per verse: (..., Spanish words, English words)."""
    import torch

    src_pieces = english_pieces(sp, verses, casing)
    tgt_pieces = [sp.encode(v.es, out_type=str) for v in verses]
    src_ids = [[*sp.piece_to_id(p), eos_id] for p in src_pieces]
    tgt_ids = [sp.piece_to_id(p) for p in tgt_pieces]
    attention: list[np.ndarray] = [np.zeros(0)] * len(verses)
    with torch.inference_mode():
        for idx in _batches([len(s) + len(t) for s, t in zip(src_ids, tgt_ids, strict=True)], BATCH_SENTENCES):
            src = _pad([src_ids[i] for i in idx], pad_id)
            tgt_in = _pad([[bos_id, *tgt_ids[i]] for i in idx], pad_id)
            cross = forced(src, tgt_in)  # (B, ..., T, S)
            for row, i in enumerate(idx):
                S, T = len(src_ids[i]), len(tgt_ids[i]) + 1
                weights = cross[row, ..., :T, :S].float().numpy()  # (..., T, S): last row / column are EOS
                row_words = [*piece_words(tgt_pieces[i]), -1]  # the EOS-predicting step is dropped
                col_words = [*piece_words(src_pieces[i]), -1]
                merged = merge_pieces(weights, row_words, col_words)
                if merged.shape[-2:] != (len(verses[i].es.split()), len(verses[i].en.split())):
                    raise ValueError(f"{verses[i].ref}: word grouping gives {merged.shape}")
                attention[i] = merged
    return attention


def sentencepiece(folder: Path) -> Any:
    """The folder's own spm.model, else the shared one of the data set (the same vocabulary)."""
    import sentencepiece as spm

    path = folder / "spm.model" if (folder / "spm.model").exists() else DATA / "spm.model"
    return spm.SentencePieceProcessor(model_file=str(path))


def decode_rnn(folder: Path, verses: Sequence[TestVerse], casing: bool = True) -> ModelRun:
    """A Seq2SeqRNN folder (models/nets/seq2seq_rnn.py): batched greedy and teacher-forced attention."""
    from models.nets.seq2seq_rnn import Seq2SeqRNN

    model = Seq2SeqRNN.from_pretrained(folder)
    cfg = model.config
    sp = sentencepiece(folder)
    forced = None if cfg.attention == "none" else (lambda src, tgt: model(src, tgt).cross_attentions)

    def greedy(src: Any) -> Any:
        return model.greedy(src).tokens

    return run_seq2seq(sp, verses, greedy, forced, cfg.bos_id, cfg.eos_id, cfg.pad_id, casing)


def decode_transformer(folder: Path, verses: Sequence[TestVerse], casing: bool = True) -> ModelRun:
    """A Transformer folder (models/nets/transformer.py): last decoder layer's cross-attention, head mean."""
    from models.nets.transformer import Transformer

    model = Transformer.from_pretrained(folder)
    cfg = model.config
    sp = sentencepiece(folder)

    def forced(src: Any, tgt_in: Any) -> Any:
        return model(src, tgt_in).cross_attentions[:, -1].mean(dim=1)  # (B, L, H, T, S) -> (B, T, S)

    def greedy(src: Any) -> Any:
        return model.greedy(src).tokens

    return run_seq2seq(sp, verses, greedy, forced, cfg.bos_id, cfg.eos_id, cfg.pad_id, casing)


# model-id prefix -> the function that runs that family; first match wins
FAMILIES: dict[str, Callable[..., ModelRun]] = {  # (folder, verses, casing=True) -> ModelRun
    "rnn-": decode_rnn,
    "transformer-": decode_transformer,
}
MULTI_HEAD = ("transformer-",)  # families whose heads are also scored one by one (models.evaluate.heads)
ATTENTION_READOUT = {
    "rnn-": "the single attention of each decoder step",
    "transformer-": "last decoder layer, mean over heads",
}


def family_of(model_id: str) -> str:
    for prefix in FAMILIES:
        if model_id.startswith(prefix):
            return prefix
    raise ValueError(f"no model family for {model_id!r}; known prefixes: {', '.join(FAMILIES)}")


def trained_models(weights_dir: Path) -> list[str]:
    """Every exported EN->ES model folder: rnn-*-en-es and transformer-en-es, with weights and config."""
    folders = [*sorted(weights_dir.glob("rnn-*-en-es")), weights_dir / "transformer-en-es"]
    return [f.name for f in folders if (f / "model.safetensors").exists() and (f / "config.json").exists()]


def cached_run(model_id: str, folder: Path, verses: Sequence[TestVerse], cache_dir: Path, data_sha: str) -> ModelRun:
    """The model's ModelRun from reports/.cache if its weights and the test split are unchanged, else decoded
    and cached first. Either way it is read back from the cache, so a fresh run scores the same float32
    attention as a cached one (argmax near-ties could otherwise flip a link)."""
    path = cache_dir / f"{model_id}-{weights_key(folder, data_sha)}.npz"
    if path.exists():
        logger.info("%s: cached run %s", model_id, path)
    else:
        start = time.monotonic()
        run = FAMILIES[family_of(model_id)](folder, verses)
        logger.info("%s: decoded %d verses in %.0f s", model_id, len(verses), time.monotonic() - start)
        cache_dir.mkdir(parents=True, exist_ok=True)
        attention = run.attention or []
        np.savez_compressed(
            path,
            hyps=np.array(run.hyps, dtype=str),
            has_attention=np.array(run.attention is not None),
            shapes=np.array([a.shape for a in attention], dtype=np.int64).reshape(-1, 2),
            weights=np.concatenate([a.ravel() for a in attention]).astype(np.float32) if attention else np.zeros(0),
        )
    with np.load(path, allow_pickle=False) as npz:
        hyps = [str(h) for h in npz["hyps"]]
        if not bool(npz["has_attention"]):
            return ModelRun(hyps, None)
        shapes, flat = npz["shapes"], npz["weights"].astype(np.float64)
    ends = np.cumsum([int(r) * int(c) for r, c in shapes])
    chunks = np.split(flat, ends[:-1]) if len(shapes) else []
    return ModelRun(hyps, [c.reshape(int(r), int(k)) for c, (r, k) in zip(chunks, shapes, strict=True)])
