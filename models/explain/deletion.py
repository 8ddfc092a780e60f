"""Deletion curves (ERASER, DeYoung et al. 2020): how a target's score moves when the inputs an
importance order ranks first are removed (comprehensiveness) or kept alone (sufficiency).

Removing an input sets its embedding to the baseline, the same baseline the attributions use.
For k top-ranked inputs the curve holds F(x) - F(x without the top-k inputs) (comprehensiveness: high = the
order found what the score needs) and F(x) - F(only the top-k inputs) (sufficiency: low = the top inputs
suffice). The curve is read at every k = 0..S, or at `points` evenly spaced fractions of S
(k = round(f S), f = 0, 1/(points-1), ..., 1); its area is the trapezoid rule over the fraction removed, k / S.

Many curves are read at once (every order of every explained row): each point is one input with a set of
positions at the baseline, and the score gives every output row of that input, so the distinct sets
(k = 0 and k = S are shared by every curve; orders agreeing on a top-k share that point) run as a few
batched forwards.
Dimensions: S input positions, D embedding width, T output rows.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.explain.attribute import BATCH, Score


@dataclass(frozen=True)
class DeletionCurve:
    """comprehensiveness, sufficiency: score drops after removing / keeping the top k, at the fractions
    k / S of the inputs removed (fractions, ascending from 0 to 1)."""

    comprehensiveness: np.ndarray
    sufficiency: np.ndarray
    fractions: np.ndarray

    @property
    def comprehensiveness_auc(self) -> float:
        return area(self.comprehensiveness, self.fractions)

    @property
    def sufficiency_auc(self) -> float:
        return area(self.sufficiency, self.fractions)


def area(curve: np.ndarray, fractions: np.ndarray | None = None) -> float:
    """Trapezoid area over the fraction of inputs removed, 0..1 (evenly spaced when fractions is None)."""
    if curve.size < 2:
        return float(curve.mean()) if curve.size else 0.0
    x = np.linspace(0.0, 1.0, curve.size) if fractions is None else fractions
    return float(np.trapezoid(curve, x=x))


def curve_ks(S: int, points: int | None) -> np.ndarray:
    """The k (inputs removed) a curve is read at: every k = 0..S, or round(f S) at `points` fractions."""
    if points is None or points >= S + 1:
        return np.arange(S + 1)
    return np.unique(np.rint(np.linspace(0.0, 1.0, points) * S).astype(int))


def _ranks(importance: np.ndarray, S: int) -> np.ndarray:
    """(S,) rank of each position, 0 = removed first (larger importance first; ties: the earlier position)."""
    importance = np.asarray(importance, dtype=np.float64)
    if importance.shape != (S,):
        raise ValueError(f"importance has shape {importance.shape}, expected ({S},)")
    order = np.argsort(-importance, kind="stable")
    ranks = np.empty(S, dtype=np.int64)
    ranks[order] = np.arange(S)
    return ranks


def deletion_curves(
    score: Score,
    x: torch.Tensor,
    orders: Sequence[tuple[int, np.ndarray]],
    baseline: torch.Tensor | None = None,
    points: int | None = None,
    batch: int = BATCH,
) -> list[DeletionCurve]:
    """One curve per (row, importance) of orders; x (1, S, D), baseline (1, S, D) or None (zeros);
    importance (S,): larger = removed first. points: see curve_ks (None: every k)."""
    S = x.shape[1]
    ks = curve_ks(S, points)
    top = [(row, _ranks(importance, S)[None, :] < ks[:, None]) for row, importance in orders]  # (K, S) top-k
    masks: dict[bytes, int] = {}  # a set of positions at the baseline -> its index among the inputs to score
    for _, chosen in top:
        for at_baseline in (*chosen, *~chosen):  # removed: the top k; kept: everything but the top k
            masks.setdefault(at_baseline.tobytes(), len(masks))
    stacked = torch.from_numpy(np.frombuffer(b"".join(masks), dtype=np.bool_).reshape(len(masks), S).copy())
    base = torch.zeros_like(x) if baseline is None else baseline
    scores = []
    with torch.no_grad():
        for start in range(0, len(masks), batch):
            part = stacked[start : start + batch, :, None]  # (b, S, 1)
            scores.append(score(torch.where(part, base, x)))  # (b, T)
    table = torch.cat(scores).double().numpy()  # (distinct sets, T)
    full = table[masks[np.zeros(S, dtype=np.bool_).tobytes()]]  # (T,) F(x): nothing removed (k = 0 is in every curve)
    fractions = ks / max(S, 1)
    curves = []
    for row, chosen in top:
        removed = [masks[m.tobytes()] for m in chosen]
        kept = [masks[m.tobytes()] for m in ~chosen]
        curves.append(DeletionCurve(full[row] - table[removed, row], full[row] - table[kept, row], fractions))
    return curves


def deletion_curve(
    score: Score, x: torch.Tensor, row: int, importance: np.ndarray, baseline: torch.Tensor | None = None
) -> DeletionCurve:
    """One curve at every k = 0..S; x (1, S, D), baseline (1, S, D) or None (zeros); importance (S,): larger =
    removed first (ties: the earlier position first)."""
    return deletion_curves(score, x, [(row, importance)], baseline)[0]
