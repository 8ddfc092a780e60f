"""How far an attribution row and an attention row agree on which inputs matter (Jain & Wallace 2019
compare attention with gradient importance by Kendall tau; we add Spearman and top-k overlap).

Attribution rows are compared by magnitude (|a|): a large negative attribution is an important input too.
Dimensions: S input positions.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Agreement:
    """spearman, kendall: rank correlations in [-1, 1], None when a row is constant (no ranking to compare).
    top_k: the k that was used; top_k_overlap: |top-k of attention & top-k of |attribution|| / k."""

    spearman: float | None
    kendall: float | None
    top_k: int
    top_k_overlap: float


def _finite(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def agreement(attention: np.ndarray, attribution: np.ndarray, k: int = 3) -> Agreement:
    """attention (S,), attribution (S,): one row each, same input positions."""
    attention = np.asarray(attention, dtype=np.float64)
    importance = np.abs(np.asarray(attribution, dtype=np.float64))
    if attention.shape != importance.shape or attention.ndim != 1:
        raise ValueError(f"rows differ: attention {attention.shape}, attribution {importance.shape}")
    k = max(1, min(k, attention.size))
    constant = np.ptp(attention) == 0 or np.ptp(importance) == 0
    spearman = None if constant else _finite(stats.spearmanr(attention, importance).statistic)
    kendall = None if constant else _finite(stats.kendalltau(attention, importance).statistic)
    top_attention = set(np.argsort(-attention, kind="stable")[:k].tolist())
    top_attribution = set(np.argsort(-importance, kind="stable")[:k].tolist())
    return Agreement(spearman, kendall, k, len(top_attention & top_attribution) / k)
