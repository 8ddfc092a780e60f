"""Subword pieces -> words (the one rule, for the API's word-level maps and for the evaluation's
alignments), plus class-token maps and attention rollout of vision models, and a caption's confidence.

WordPiece marks a continuation with "##"; SentencePiece marks a word start with "▁". Special tokens are
always words of their own. (static/js/lib/math.js applies the default rule in the browser.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from models.contract import AttentionStack, ClsAttentionMaps

if TYPE_CHECKING:  # the service imports this file at start-up; torch is loaded with the first model
    import torch

SPECIAL = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "<s>", "</s>", "<pad>", "<unk>"}


def word_groups(
    tokens: tuple[str, ...], punctuation: Literal["own", "attach"] = "own"
) -> tuple[list[list[int]], tuple[str, ...]]:
    """Token indices of each word, and each word's label (pieces joined, markers removed).

    A SentencePiece piece without "▁" continues the previous word; which ones depends on `punctuation`:
    "own" (the default, the API's word-level maps): only a piece that begins with a letter or digit,
    so "earth" "." are two words; tokens without any "▁" are WordPiece, where "##" continues.
    "attach" (SentencePiece pieces only, e.g. models/evaluate/alignment.py): every piece without "▁",
    so the words are the text's whitespace-separated words ("earth." is one), the words that
    word-alignment references index.
    """
    sentencepiece = punctuation == "attach" or any(t.startswith("▁") for t in tokens)

    def continues(token: str, previous: str) -> bool:
        if sentencepiece:
            special = token in SPECIAL or previous in SPECIAL or token.startswith("<unk:")
            word_piece = punctuation == "attach" or token[:1].isalnum()
            return not token.startswith("▁") and not special and word_piece
        return token.startswith("##")

    groups: list[list[int]] = []
    for i, token in enumerate(tokens):
        if i > 0 and continues(token, tokens[i - 1]):
            groups[-1].append(i)
        else:
            groups.append([i])
    labels = tuple("".join(tokens[i].removeprefix("##").removeprefix("▁") for i in g) or "▁" for g in groups)
    return groups, labels


def merge_words(stack: AttentionStack) -> AttentionStack:
    """Word-level maps: weights summed over a key word's pieces, averaged over a query word's pieces,
    so every row still sums to 1."""
    row_groups, row_labels = word_groups(stack.row_tokens)
    col_groups, col_labels = word_groups(stack.col_tokens)
    R, C = stack.weights.shape[2:]
    weights = stack.weights.float()
    rows = weights.new_zeros((len(row_groups), R))  # (R', R): mean over a word's pieces
    for w, group in enumerate(row_groups):
        rows[w, group] = 1.0 / len(group)
    cols = weights.new_zeros((C, len(col_groups)))  # (C, C'): sum over a word's pieces
    for w, group in enumerate(col_groups):
        cols[group, w] = 1.0
    merged = rows @ weights @ cols  # (L, H, R', C')
    return AttentionStack(stack.kind, merged, row_labels, col_labels, stack.layer_ids, stack.head_ids)


def cls_attention_maps(attentions: torch.Tensor, grid: tuple[int, int]) -> ClsAttentionMaps:
    """attentions (..., N, N) with N = 1 + h * w -> the class-token row as (..., h, w) maps plus its self-weight."""
    h, w = grid
    if attentions.shape[-2:] != (1 + h * w, 1 + h * w):
        raise ValueError(f"attentions {tuple(attentions.shape)} do not fit a {h}x{w} grid plus a class token")
    cls_row = attentions[..., 0, :]  # (..., N)
    return ClsAttentionMaps(
        patches=cls_row[..., 1:].reshape(*cls_row.shape[:-1], h, w),  # (..., h, w)
        cls_self=cls_row[..., 0],  # (...)
    )


def mean_over_heads(maps: ClsAttentionMaps) -> ClsAttentionMaps:
    """(L, H, h, w) per-head maps -> (L, h, w); the mean of raw weights still adds up to 1 with cls_self."""
    return ClsAttentionMaps(patches=maps.patches.mean(dim=-3), cls_self=maps.cls_self.mean(dim=-1))


def attention_rollout(attentions: torch.Tensor) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) after every layer.

    attentions (L, H, N, N) of one image. Heads are averaged first; each layer's matrix becomes
    0.5 A + 0.5 I (identity for the residual path, rows renormalised), and rollout after layer l
    is A_l ... A_1. Returns (L, N, N): row i of entry l says how much output token i of layer l
    draws on each input token; every row sums to 1.
    """
    import torch

    L, H, N, _ = attentions.shape
    eye = torch.eye(N, dtype=attentions.dtype, device=attentions.device)
    mixed = 0.5 * attentions.mean(dim=1) + 0.5 * eye  # (L, N, N)
    mixed = mixed / mixed.sum(dim=-1, keepdim=True)  # already 1 up to rounding; keeps the contract exact
    rollout = [mixed[0]]
    for layer in range(1, L):
        rollout.append(mixed[layer] @ rollout[-1])  # (N, N)
    return torch.stack(rollout)  # (L, N, N)


def caption_confidence(token_probs: Iterable[float]) -> float:
    """A caption's confidence: the geometric mean of the probabilities its words were chosen with,
    exp(mean(log p)), so one unlikely word pulls it down whatever the caption's length. An empty caption
    (nothing said) and a word chosen with probability 0 give 0. token_probs: (T,) floats or a tensor."""
    probs = [float(p) for p in token_probs]
    if not probs or min(probs) <= 0.0:
        return 0.0
    return math.exp(sum(math.log(p) for p in probs) / len(probs))
