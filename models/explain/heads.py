"""Which heads matter for one output: each head switched off alone (its output zeroed before the output
projection, Michel et al. 2019's ablation), the model's score of the same output recomputed, heads ranked
by how much it moved. Cost: one batched forward per `chunk` heads, so bounded by the number of heads.
"""

from dataclasses import dataclass

import torch

from models.explain.families import Explainable


@dataclass(frozen=True)
class HeadEffect:
    """change: total score with the head removed minus the total score with every head (for translations,
    the summed log-probability of the unablated output: negative = the head helped produce it)."""

    kind: str
    layer: int
    head: int
    change: float


def rank_heads(explainable: Explainable, chunk: int = 16) -> list[HeadEffect]:
    """Every head of every kind, removed alone, sorted by |change| (largest first)."""
    heads = [
        (kind, layer, head)
        for kind, (L, H) in explainable.head_shapes.items()
        for layer in range(L)
        for head in range(H)
    ]
    ones = {kind: torch.ones(1, L, H) for kind, (L, H) in explainable.head_shapes.items()}
    with torch.no_grad():
        full = float(explainable.with_heads(ones).sum())
        effects: list[HeadEffect] = []
        for start in range(0, len(heads), chunk):
            part = heads[start : start + chunk]
            masks = {kind: ones[kind].repeat(len(part), 1, 1) for kind in ones}  # (B, L, H) each
            for b, (kind, layer, head) in enumerate(part):
                masks[kind][b, layer, head] = 0.0
            totals = explainable.with_heads(masks).sum(dim=-1)  # (B,)
            effects += [
                HeadEffect(k, la, h, float(t) - full) for (k, la, h), t in zip(part, totals.tolist(), strict=True)
            ]
    return sorted(effects, key=lambda e: -abs(e.change))
