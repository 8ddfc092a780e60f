"""Score every trained EN->ES translation model on the test split: BLEU, chrF, BLEU by source
length, and the alignment error rate (AER) of its attention against Strong's-number links.

Metrics:
- BLEU / chrF: sacrebleu corpus scores (13a tokenisation, defaults) of batched greedy decoding of
  the 1,464 test verses. Beam-5 scores are copied from the model's metrics.json (the training
  script decodes the same test split with beam 5 on the same fp16 weights), labelled as such.
- BLEU by length: corpus BLEU within buckets of English source length in whitespace words
  (1-10, 11-20, 21-30, 31+).
- AER (Och & Ney 2003) with sure links only, AER = 1 - 2|A & S| / (|A| + |S|), summed over
  all test verses (corpus level). S: data/bible_en_es/test_strongs.jsonl, every (English word,
  Spanish word) pair sharing a Strong's number (lemma level, noisy). Only words that appear in at
  least one reference link count (the file keeps links, not per-word numbers): predicted links
  from or to other words are dropped, because the reference says nothing about them.
  A for a model: forced decoding of the reference Spanish (teacher forcing), so the attention
  rows belong to the reference words; subword pieces merged into whitespace words (weights summed
  over a source word's pieces, averaged over a target word's pieces; end-of-sentence row and
  column dropped), then one link per Spanish word to the argmax English word.
  Transformer: the last decoder layer's cross-attention averaged over heads ("heads averaged");
  also every head and every layer's head mean, the best chosen on the dev split's links and
  scored on test (models/evaluate/heads.py).
- eflomal (Ostling & Tiedemann 2016): trained unsupervised on train + test verses (the usual
  protocol: aligners see the text they align), on the same whitespace words with surrounding
  punctuation stripped for its vocabulary only (positions unchanged). "aer": its forward
  direction (one English word per Spanish word, like the attention argmax); also reverse,
  intersection and grow-diag-final-and symmetrisation.

Model runs are cached in reports/.cache/ keyed by the sha256 of the weights (and of the test
split), so a re-run only decodes new models. Writes reports/translation_eval.{json,md}.

Run: python -m models.evaluate.translation [--models rnn-additive-en-es ...] [--threads 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("evaluate_translation")

DATA = Path("data/bible_en_es")
WEIGHTS_DIR = Path("models/weights")
REPORTS = Path("reports")
CACHE_VERSION = "1"  # bump when what a cached model run holds changes
BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 10), (11, 20), (21, 30), (31, None))
BATCH_SENTENCES = 64
EFLOMAL_OPTIONS: dict[str, Any] = {"model": 3, "n_samplers": 3}  # eflomal defaults: IBM1 -> HMM -> fertility
_PUNCTUATION = ".,;:!?¡¿'\"“”‘’«»()[]—-"

Link = tuple[int, int]  # (English word i, Spanish word j)


# ---------------------------------------------------------------------------- length buckets
def bucket_name(low: int, high: int | None) -> str:
    return f"{low}-{high}" if high is not None else f"{low}+"


def length_bucket(n_words: int) -> str:
    """The bucket of a source of n_words English words: '1-10', '11-20', '21-30' or '31+'."""
    for low, high in BUCKETS:
        if n_words >= low and (high is None or n_words <= high):
            return bucket_name(low, high)
    raise ValueError(f"a source has at least 1 word, got {n_words}")


def bleu_by_length(hyps: Sequence[str], refs: Sequence[str], sources: Sequence[str]) -> dict[str, float | None]:
    """Corpus BLEU of the verses in each source-length bucket (None for an empty bucket)."""
    import sacrebleu

    scores: dict[str, float | None] = {}
    buckets = [length_bucket(len(s.split())) for s in sources]
    for low, high in BUCKETS:
        name = bucket_name(low, high)
        idx = [i for i, b in enumerate(buckets) if b == name]
        if not idx:
            scores[name] = None
            continue
        bleu = sacrebleu.corpus_bleu([hyps[i] for i in idx], [[refs[i] for i in idx]])
        scores[name] = round(bleu.score, 2)
    return scores


# ---------------------------------------------------------------------------- subwords -> words
def word_of_piece(pieces: Sequence[str]) -> list[int]:
    """Whitespace-word index of every SentencePiece piece: a piece starting with '▁' opens a word,
    any other piece (punctuation included) continues the current one."""
    words: list[int] = []
    for k, piece in enumerate(pieces):
        words.append(words[-1] + 1 if k and piece.startswith("▁") else (words[-1] if k else 0))
    return words


def merge_pieces(weights: np.ndarray, row_words: Sequence[int], col_words: Sequence[int]) -> np.ndarray:
    """Piece-level attention (..., T, S) -> word level (..., T', S'): summed over a source (column)
    word's pieces, averaged over a target (row) word's pieces. A word index < 0 drops that row / column
    (end-of-sentence), so rows sum to 1 minus the mass those columns had."""
    n_rows, n_cols = max(row_words, default=-1) + 1, max(col_words, default=-1) + 1
    rows = np.zeros((n_rows, weights.shape[-2]))  # (T', T)
    for t, w in enumerate(row_words):
        if w >= 0:
            rows[w, t] = 1.0
    rows /= np.maximum(rows.sum(axis=1, keepdims=True), 1.0)
    cols = np.zeros((weights.shape[-1], n_cols))  # (S, S')
    for s, w in enumerate(col_words):
        if w >= 0:
            cols[s, w] = 1.0
    return rows @ weights.astype(np.float64) @ cols  # (..., T', S'): matmul broadcasts over readouts


def argmax_links(word_attention: np.ndarray) -> set[Link]:
    """word_attention (Spanish words, English words) -> {(English i, Spanish j)}: one link per row."""
    return {(int(i), j) for j, i in enumerate(word_attention.argmax(axis=1))} if word_attention.size else set()


# ---------------------------------------------------------------------------- AER
@dataclass
class AlignmentCounts:
    """Corpus-level link counts; AER = 1 - 2 |A & S| / (|A| + |S|) with sure links only."""

    matched: int = 0  # |A & S|
    predicted: int = 0  # |A|
    reference: int = 0  # |S|

    def add(self, predicted: set[Link], sure: set[Link]) -> None:
        """Count one verse, keeping only predicted links between words that appear in `sure`."""
        src, tgt = {i for i, _ in sure}, {j for _, j in sure}
        kept = {(i, j) for i, j in predicted if i in src and j in tgt}
        self.matched += len(kept & sure)
        self.predicted += len(kept)
        self.reference += len(sure)

    @property
    def aer(self) -> float:
        total = self.predicted + self.reference
        return 1.0 - 2.0 * self.matched / total if total else float("nan")

    def summary(self) -> dict[str, float | int]:
        return {
            "aer": round(self.aer, 4),
            "precision": round(self.matched / self.predicted, 4) if self.predicted else 0.0,
            "recall": round(self.matched / self.reference, 4) if self.reference else 0.0,
            "links_predicted": self.predicted,
            "links_reference": self.reference,
            "links_matched": self.matched,
        }


def corpus_aer(predicted: Iterable[set[Link]], references: Iterable[set[Link]]) -> AlignmentCounts:
    counts = AlignmentCounts()
    for pred, sure in zip(predicted, references, strict=True):
        counts.add(pred, sure)
    return counts


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class TestVerse:
    ref: str
    en: str
    es: str
    links: frozenset[Link]  # Strong's-number reference links (English word i, Spanish word j)


def load_verses(data: Path, split: str = "test") -> list[TestVerse]:
    """{split}.jsonl joined with {split}_strongs.jsonl by reference; their words must agree."""
    records = [json.loads(line) for line in (data / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
    strongs = {}
    for line in (data / f"{split}_strongs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        strongs[row["ref"]] = row
    verses = []
    for r in records:
        row = strongs[r["ref"]]
        if row["en_words"] != r["en"].split() or row["es_words"] != r["es"].split():
            raise ValueError(f"{r['ref']}: {split}_strongs.jsonl words differ from {split}.jsonl; run `make data`")
        verses.append(TestVerse(r["ref"], r["en"], r["es"], frozenset((int(i), int(j)) for i, j in row["links"])))
    return verses


def split_sizes(data: Path) -> dict[str, int]:
    return {
        split: sum(1 for _ in open(data / f"{split}.jsonl", encoding="utf-8")) for split in ("train", "dev", "test")
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------- model families
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


def run_seq2seq(
    sp: Any,
    verses: Sequence[TestVerse],
    greedy: Callable[[Any], Any],
    forced: Callable[[Any, Any], Any] | None,
    bos_id: int,
    eos_id: int,
    pad_id: int,
) -> ModelRun:
    """Shared driver for encoder-decoder models on SentencePiece ids.

    greedy(src (B, S)) -> generated ids (B, T); forced(src (B, S), tgt_in (B, T)) -> piece-level
    cross-attention (B, T, S) or None. Sources get EOS appended; targets are bos + reference."""
    import torch

    src_pieces = [sp.encode(v.en, out_type=str) for v in verses]
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
    return ModelRun(hyps, forced_word_attention(sp, verses, forced, bos_id, eos_id, pad_id))


def forced_word_attention(
    sp: Any, verses: Sequence[TestVerse], forced: Callable[[Any, Any], Any], bos_id: int, eos_id: int, pad_id: int
) -> list[np.ndarray]:
    """Teacher-force each reference; forced(src (B, S), tgt_in (B, T)) -> cross-attention (B, ..., T, S),
    any readout dimensions (layers, heads) between. Per verse: (..., Spanish words, English words)."""
    import torch

    src_pieces = [sp.encode(v.en, out_type=str) for v in verses]
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
                row_words = [*word_of_piece(tgt_pieces[i]), -1]  # the EOS-predicting step is dropped
                col_words = [*word_of_piece(src_pieces[i]), -1]
                merged = merge_pieces(weights, row_words, col_words)
                if merged.shape[-2:] != (len(verses[i].es.split()), len(verses[i].en.split())):
                    raise ValueError(f"{verses[i].ref}: word grouping gives {merged.shape}")
                attention[i] = merged
    return attention


def decode_rnn(folder: Path, verses: Sequence[TestVerse]) -> ModelRun:
    """A Seq2SeqRNN folder (models/nets/seq2seq_rnn.py): batched greedy and teacher-forced attention."""
    import sentencepiece as spm

    from models.nets.seq2seq_rnn import Seq2SeqRNN

    model = Seq2SeqRNN.from_pretrained(folder)
    cfg = model.config
    sp = spm.SentencePieceProcessor(model_file=str(sentencepiece_file(folder)))
    forced = None if cfg.attention == "none" else (lambda src, tgt: model(src, tgt).cross_attentions)
    return run_seq2seq(sp, verses, lambda src: model.greedy(src).tokens, forced, cfg.bos_id, cfg.eos_id, cfg.pad_id)


def decode_transformer(folder: Path, verses: Sequence[TestVerse]) -> ModelRun:
    """A Transformer folder (models/nets/transformer.py): last decoder layer's cross-attention, head mean."""
    import sentencepiece as spm

    from models.nets.transformer import Transformer

    model = Transformer.from_pretrained(folder)
    cfg = model.config
    sp = spm.SentencePieceProcessor(model_file=str(sentencepiece_file(folder)))

    def forced(src: Any, tgt_in: Any) -> Any:
        return model(src, tgt_in).cross_attentions[:, -1].mean(dim=1)  # (B, L, H, T, S) -> (B, T, S)

    return run_seq2seq(sp, verses, lambda src: model.greedy(src).tokens, forced, cfg.bos_id, cfg.eos_id, cfg.pad_id)


# model-id prefix -> the function that runs that family; first match wins
FAMILIES: dict[str, Callable[[Path, Sequence[TestVerse]], ModelRun]] = {
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


def sentencepiece_file(folder: Path) -> Path:
    """The folder's own spm.model, else the shared one of the data set (the same vocabulary)."""
    return folder / "spm.model" if (folder / "spm.model").exists() else DATA / "spm.model"


def trained_models(weights_dir: Path) -> list[str]:
    """Every exported EN->ES model folder: rnn-*-en-es and transformer-en-es, with weights and config."""
    folders = [*sorted(weights_dir.glob("rnn-*-en-es")), weights_dir / "transformer-en-es"]
    return [f.name for f in folders if (f / "model.safetensors").exists() and (f / "config.json").exists()]


# ---------------------------------------------------------------------------- cache
def cached_run(model_id: str, folder: Path, verses: Sequence[TestVerse], cache_dir: Path, data_sha: str) -> ModelRun:
    """The model's ModelRun from reports/.cache if its weights and the test split are unchanged, else decoded."""
    key = hashlib.sha256(f"{sha256_file(folder / 'model.safetensors')}:{data_sha}:{CACHE_VERSION}".encode())
    path = cache_dir / f"{model_id}-{key.hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as npz:
            hyps = [str(h) for h in npz["hyps"]]
            if not bool(npz["has_attention"]):
                return ModelRun(hyps, None)
            shapes, flat = npz["shapes"], npz["weights"].astype(np.float64)
        ends = np.cumsum([int(r) * int(c) for r, c in shapes])
        chunks = np.split(flat, ends[:-1])
        logger.info("%s: cached run %s", model_id, path)
        return ModelRun(hyps, [c.reshape(int(r), int(k)) for c, (r, k) in zip(chunks, shapes, strict=True)])
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
    return run


# ---------------------------------------------------------------------------- eflomal
def eflomal_token(word: str) -> str:
    """A whitespace word as eflomal's vocabulary sees it: surrounding punctuation stripped."""
    return word.strip(_PUNCTUATION) or word


def grow_diag_final_and(fwd: set[Link], rev: set[Link]) -> set[Link]:
    """Koehn et al. (2003) symmetrisation of two directional alignments of one sentence pair."""
    union = fwd | rev
    aligned = set(fwd & rev)
    neighbours = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))
    added = True
    while added:
        added = False
        for i, j in sorted(aligned):
            for di, dj in neighbours:
                cand = (i + di, j + dj)
                if cand in union and cand not in aligned:
                    src_free = all(a != cand[0] for a, _ in aligned)
                    tgt_free = all(b != cand[1] for _, b in aligned)
                    if src_free or tgt_free:
                        aligned.add(cand)
                        added = True
    for direction in (fwd, rev):
        for i, j in sorted(direction):
            if all(a != i for a, _ in aligned) and all(b != j for _, b in aligned):
                aligned.add((i, j))
    return aligned


def _read_links(path: Path) -> list[set[Link]]:
    out = []
    for line in path.read_text().splitlines():
        pairs = (p.split("-") for p in line.split())
        out.append({(int(i), int(j)) for i, j in pairs})
    return out


def eflomal_alignments(
    train_pairs: Sequence[tuple[str, str]], test_pairs: Sequence[tuple[str, str]], cache_dir: Path
) -> dict[str, list[set[Link]]]:
    """eflomal trained on train + test (English source, Spanish target); links of the test pairs
    by direction: fwd (one English word per Spanish word), rev, intersection, gdfa. Cached."""
    lines = [(" ".join(map(eflomal_token, en.split())), " ".join(map(eflomal_token, es.split())))
             for en, es in [*train_pairs, *test_pairs]]  # fmt: skip
    key = hashlib.sha256(json.dumps([lines, EFLOMAL_OPTIONS, CACHE_VERSION]).encode()).hexdigest()[:16]
    fwd_path, rev_path = cache_dir / f"eflomal-{key}.fwd", cache_dir / f"eflomal-{key}.rev"
    if not (fwd_path.exists() and rev_path.exists()):
        from eflomal import Aligner

        cache_dir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        Aligner(**EFLOMAL_OPTIONS).align(
            [en + "\n" for en, _ in lines],
            [es + "\n" for _, es in lines],
            links_filename_fwd=str(fwd_path),
            links_filename_rev=str(rev_path),
        )
        logger.info("eflomal: aligned %d pairs in %.0f s", len(lines), time.monotonic() - start)
    n = len(test_pairs)
    fwd, rev = _read_links(fwd_path)[-n:], _read_links(rev_path)[-n:]
    return {
        "forward": fwd,
        "reverse": rev,
        "intersection": [f & r for f, r in zip(fwd, rev, strict=True)],
        "grow-diag-final-and": [grow_diag_final_and(f, r) for f, r in zip(fwd, rev, strict=True)],
    }


# ---------------------------------------------------------------------------- report
def evaluate_model(model_id: str, folder: Path, verses: Sequence[TestVerse], run: ModelRun) -> dict[str, Any]:
    import sacrebleu

    refs, sources = [v.es for v in verses], [v.en for v in verses]
    result: dict[str, Any] = {
        "bleu": round(sacrebleu.corpus_bleu(run.hyps, [refs]).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(run.hyps, [refs]).score, 2),
        "bleu_by_length": bleu_by_length(run.hyps, refs, sources),
        "aer": None,
        "decoding": "greedy, batched",
    }
    metrics_path = folder / "metrics.json"
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text())
        for name, value in metrics.items():
            if name.startswith("test_beam") and isinstance(value, dict):
                result[name.removeprefix("test_")] = {**value, "source": "metrics.json (training script)"}
        if "test_greedy" in metrics:
            result["greedy_in_metrics_json"] = metrics["test_greedy"]
    if run.attention is None:
        result["aer_note"] = "no attention (fixed encoder summary): no alignment to score"
    else:
        counts = corpus_aer([argmax_links(a) for a in run.attention], [set(v.links) for v in verses])
        result["aer"] = round(counts.aer, 4)
        result["alignment"] = {**counts.summary(), "readout": ATTENTION_READOUT[family_of(model_id)]}
    result["samples"] = [
        {"ref": v.ref, "en": v.en, "es": v.es, "hyp": h} for v, h in zip(verses[:3], run.hyps[:3], strict=True)
    ]
    return result


PROTOCOL = {
    "test_split": "data/bible_en_es/test.jsonl: 5% of chapters by sha256('Book.chapter'), never trained or tuned on",
    "bleu_chrf": "sacrebleu corpus BLEU (13a) and chrF, default settings, against the one Reina-Valera reference",
    "decoding": "greedy (batched); beam-5 figures, where present, come from each model's metrics.json",
    "length_buckets": "English source length in whitespace words: 1-10, 11-20, 21-30, 31+; corpus BLEU per bucket",
    "aer": "1 - 2|A&S|/(|A|+|S|), sure links only, corpus level over the test verses",
    "reference_links": "Strong's-number links (every English/Spanish word pair sharing a number): lemma level and "
    "noisy, many-to-many; ~82% of English tokens tagged",
    "restriction": "only words that appear in at least one reference link are scored: predicted links to or from "
    "other words are dropped",
    "attention_links": "forced decoding of the reference Spanish; pieces merged into whitespace words (summed over "
    "source pieces, averaged over target pieces, EOS dropped); one link per Spanish word to the argmax English word",
    "transformer_heads": "AER column: the last decoder layer's cross-attention averaged over its heads; 'best head': "
    "every (layer, head) and every layer's head mean scored on the dev split's Strong's links "
    "(data/bible_en_es/dev_strongs.jsonl), the lowest dev AER chosen, then scored on test (models/evaluate/heads.py)",
    "eflomal": "eflomal 2.x, default model (IBM1+HMM+fertility), unsupervised on train+test verses (the aligner sees "
    "the text it aligns, as usual); same whitespace words, surrounding punctuation stripped for its vocabulary; "
    "'aer' is the forward direction (one English word per Spanish word, like the attention argmax)",
    "recall_ceiling": "one link per Spanish word cannot cover many-to-many references, so AER stays high for every "
    "system; compare systems with each other, not with published AERs on hand-aligned data",
}


def build_report(data: Path, weights_dir: Path, reports_dir: Path, model_ids: Sequence[str] | None) -> dict[str, Any]:
    verses = load_verses(data, "test")
    cache_dir = reports_dir / ".cache"
    data_sha = sha256_file(data / "test.jsonl")
    train = [json.loads(line) for line in (data / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    references = [set(v.links) for v in verses]
    sources = [v.en for v in verses]
    scored_spanish = sum(len({j for _, j in links}) for links in references)
    report: dict[str, Any] = {
        "reference_links": {
            "links": sum(len(links) for links in references),
            "spanish_words_scored": scored_spanish,
            "english_words_scored": sum(len({i for i, _ in links}) for links in references),
            "max_recall_one_link_per_spanish_word": round(scored_spanish / max(sum(map(len, references)), 1), 4),
        },
        "splits": {
            **split_sizes(data),
            "test_with_links": sum(1 for v in verses if v.links),
            "test_by_length": {
                bucket_name(lo, hi): sum(1 for s in sources if length_bucket(len(s.split())) == bucket_name(lo, hi))
                for lo, hi in BUCKETS
            },
        },
        "models": {},
    }
    efl = eflomal_alignments([(r["en"], r["es"]) for r in train], [(v.en, v.es) for v in verses], cache_dir)
    by_direction = {name: corpus_aer(links, references).summary() for name, links in efl.items()}
    report["eflomal"] = {
        "aer": by_direction["forward"]["aer"],
        "directions": by_direction,
        "trained_on": f"train + test, {len(train) + len(verses)} verse pairs",
    }
    logger.info("eflomal AER: %s", {k: v["aer"] for k, v in by_direction.items()})
    dev: list[TestVerse] = []
    for model_id in model_ids or trained_models(weights_dir):
        folder = weights_dir / model_id
        run = cached_run(model_id, folder, verses, cache_dir, data_sha)
        report["models"][model_id] = evaluate_model(model_id, folder, verses, run)
        if family_of(model_id) in MULTI_HEAD:
            from models.evaluate.heads import head_study

            dev = dev or load_verses(data, "dev")
            links_sha = ":".join([data_sha, *(sha256_file(data / f"{s}_strongs.jsonl") for s in ("dev", "test"))])
            report["models"][model_id]["heads"] = head_study(folder, dev, verses, cache_dir, links_sha)
        logger.info("%s: %s", model_id, {k: report["models"][model_id][k] for k in ("bleu", "chrf", "aer")})
    report["protocol"] = PROTOCOL
    report["notes"] = [
        "rnn-none-en-es is the no-attention baseline (Cho et al. 2014): it has BLEU but no AER.",
        "Models are listed as found in models/weights at run time; re-run `make eval` after training more.",
    ]
    return report


def _fmt(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    names = [bucket_name(lo, hi) for lo, hi in BUCKETS]
    counts = report["splits"]["test_by_length"]
    lines = [
        "# Translation evaluation (EN -> ES, test split)",
        "",
        "Splits: " + ", ".join(f"{k} {report['splits'][k]}" for k in ("train", "dev", "test")) + " verses.",
        "Generated by `make eval` (`python -m models.evaluate.translation`); numbers in reports/translation_eval.json.",
        "",
        "| model | BLEU (greedy) | chrF | BLEU beam 5 | AER (attention; heads averaged) | AER best head (dev-chosen) | "
        + " | ".join(f"BLEU {n} words ({counts[n]})" for n in names)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(names),
    ]
    for model_id, m in report["models"].items():
        beam = m.get("beam5", {}).get("bleu")
        best = m["heads"]["best_head"]["aer"] if "heads" in m else None
        cells = [_fmt(m["bleu"]), _fmt(m["chrf"]), _fmt(beam), _fmt(m["aer"], 3), _fmt(best, 3)]
        cells += [_fmt(m["bleu_by_length"][n]) for n in names]
        lines.append(f"| {model_id} | " + " | ".join(cells) + " |")
    if not report["models"]:
        lines.append("| (no trained model in models/weights yet) |" + " |" * (5 + len(names)))
    lines += ["", "## Word alignment against Strong's-number links (lower AER is better)", ""]
    ref = report["reference_links"]
    lines += [
        f"{ref['links']} reference links over {ref['spanish_words_scored']} Spanish and "
        f"{ref['english_words_scored']} English words: one link per Spanish word can recall at most "
        f"{ref['max_recall_one_link_per_spanish_word']:.3f}.",
        "",
        "| aligner | AER | precision | recall |",
        "|---|---|---|---|",
    ]
    for model_id, m in report["models"].items():
        if m.get("alignment"):
            a = m["alignment"]
            lines.append(
                f"| {model_id} attention (argmax) | {a['aer']:.3f} | {a['precision']:.3f} | {a['recall']:.3f} |"
            )
        picks = (("best head", "best_head"), ("best layer mean", "best_layer_mean")) if "heads" in m else ()
        for label, pick in picks:
            h = m["heads"][pick]
            lines.append(f"| {model_id} {label}: {h['readout']} (dev AER {h['dev_aer']:.3f}) | {h['aer']:.3f} | "
                         f"{h['precision']:.3f} | {h['recall']:.3f} |")  # fmt: skip
    for name, a in report["eflomal"]["directions"].items():
        lines.append(f"| eflomal {name} | {a['aer']:.3f} | {a['precision']:.3f} | {a['recall']:.3f} |")
    for model_id, m in report["models"].items():
        if "heads" in m:
            lines += ["", f"### {model_id}: every cross-attention readout (chosen on dev, scored on test)", "",
                      "| readout | dev AER | test AER |", "|---|---|---|"]  # fmt: skip
            lines += [f"| {n} | {r['dev_aer']:.3f} | {r['test_aer']:.3f} |" for n, r in m["heads"]["readouts"].items()]
            o = m["heads"]["oracle_head"]
            lines += ["", f"Test-chosen head (an upper bound, not a fair score): {o['readout']}, AER {o['aer']:.3f}."]
    lines += ["", "## Protocol", ""]
    lines += [f"- **{k}**: {v}" for k, v in report["protocol"].items()]
    lines += ["", *[f"- {n}" for n in report["notes"]], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder built by models.data.bible_en_es")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR, help="exported model folders")
    parser.add_argument("--reports-dir", type=Path, default=REPORTS, help="where the report and .cache go")
    parser.add_argument("--models", nargs="*", help="model ids (default: every trained EN-ES model)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    start = time.monotonic()
    report = build_report(args.data, args.weights_dir, args.reports_dir, args.models)
    report["runtime_seconds"] = round(time.monotonic() - start, 1)
    args.reports_dir.mkdir(parents=True, exist_ok=True)
    (args.reports_dir / "translation_eval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (args.reports_dir / "translation_eval.md").write_text(markdown(report), encoding="utf-8")
    logger.info("wrote %s in %.0f s", args.reports_dir / "translation_eval.json", report["runtime_seconds"])


if __name__ == "__main__":
    main()
