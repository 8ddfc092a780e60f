"""Word alignments from attention, and their alignment error rate (AER, Och & Ney 2003).

Pieces -> words: readouts.word_groups with punctuation attached, so the words are the text's
whitespace-separated words, the ones the Strong's-number reference links index. Attention rows
(Spanish words) and columns (English words) are merged over those words, then each Spanish word links
to its argmax English word. grow-diag-final-and (Koehn et al. 2003) symmetrises two directional
alignments (eflomal's, models/evaluate/eflomal_links.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from models.readouts import word_groups

Link = tuple[int, int]  # (English word i, Spanish word j)


def piece_words(pieces: Sequence[str]) -> list[int]:
    """Whitespace-word index of every SentencePiece piece: a piece starting with '▁' opens a word,
    any other piece (punctuation included) continues the current one."""
    groups, _ = word_groups(tuple(pieces), punctuation="attach")
    return [w for w, group in enumerate(groups) for _ in group]


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
