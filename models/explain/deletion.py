"""Deletion curves (ERASER, DeYoung et al. 2020): how a target's score moves when the inputs an
importance order ranks first are removed (comprehensiveness) or kept alone (sufficiency).

Removing an input sets its embedding to the baseline, the same baseline the attributions use.
For k = 0..S the curve holds F(x) - F(x without the top-k inputs) (comprehensiveness: high = the order found
what the score needs) and F(x) - F(only the top-k inputs) (sufficiency: low = the top inputs suffice).
The area under each curve is the mean over k = 0..S (the trapezoid rule over the fraction removed).
Dimensions: S input positions, D embedding width, T output rows.
"""

from dataclasses import dataclass

import numpy as np
import torch

from models.explain.attribute import Score


@dataclass(frozen=True)
class DeletionCurve:
    """comprehensiveness, sufficiency: (S + 1,) score drops after removing / keeping the top k, k = 0..S."""

    comprehensiveness: np.ndarray
    sufficiency: np.ndarray

    @property
    def comprehensiveness_auc(self) -> float:
        return area(self.comprehensiveness)

    @property
    def sufficiency_auc(self) -> float:
        return area(self.sufficiency)


def area(curve: np.ndarray) -> float:
    """Trapezoid area over the fraction of inputs removed, 0..1."""
    if curve.size < 2:
        return float(curve.mean()) if curve.size else 0.0
    return float(np.trapezoid(curve, dx=1.0 / (curve.size - 1)))


def deletion_curve(
    score: Score, x: torch.Tensor, row: int, importance: np.ndarray, baseline: torch.Tensor | None = None
) -> DeletionCurve:
    """x (1, S, D), baseline (1, S, D) or None (zeros); importance (S,): larger = removed first (ties: the
    earlier position first)."""
    S = x.shape[1]
    if np.asarray(importance).shape != (S,):
        raise ValueError(f"importance has shape {np.asarray(importance).shape}, expected ({S},)")
    order = torch.from_numpy(np.argsort(-np.asarray(importance, dtype=np.float64), kind="stable").copy())
    ranks = torch.empty(S, dtype=torch.long)
    ranks[order] = torch.arange(S)
    top = ranks[None, :] < torch.arange(S + 1)[:, None]  # (S + 1, S): position among the top k
    base = torch.zeros_like(x) if baseline is None else baseline
    removed = torch.where(top[..., None], base, x)  # (S + 1, S, D) top k at baseline
    kept = torch.where(top[..., None], x, base)  # (S + 1, S, D) only the top k
    with torch.no_grad():
        full = score(x)[0, row]
        comprehensiveness = full - score(removed)[:, row]
        sufficiency = full - score(kept)[:, row]
    return DeletionCurve(comprehensiveness.double().numpy(), sufficiency.double().numpy())
