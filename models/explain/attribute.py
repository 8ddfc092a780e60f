"""Attributions of a model's outputs to its input positions, computed with Captum (Kokhlikyan et al. 2020).

Every model is reduced to one function: score(x) with x (B, S, D) the embeddings of S input positions
(source tokens, image cells) and the result (B, T) one score per output row (a generated token's
log-probability, a similarity). The baseline is the model's own "nothing here" input (the unknown-token
embedding for text, as Inseq does), all-zero when none is given. A position's attribution is the sum over
D of Captum's attribution of its embedding (for feature_ablation, the one effect of removing the whole
position), so a row of T x S attributions has the layout of an attention map (rows = outputs, columns = inputs).

Methods:
- integrated_gradients: Sundararajan et al. 2017, Riemann/Gauss-Legendre path with `steps` points;
  Captum's convergence delta sum(attributions) - (F(x) - F(baseline)) is returned per row.
- input_x_gradient: Shrikumar et al. 2016, x * dF/dx.
- feature_ablation: each position replaced by the baseline in turn (occlusion of one token / cell),
  F(x) - F(x with that position at baseline).
Dimensions: B batch, S input positions, D embedding width, T output rows.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

Method = Literal["integrated_gradients", "input_x_gradient", "feature_ablation"]
METHODS: tuple[Method, ...] = ("integrated_gradients", "input_x_gradient", "feature_ablation")
Score = Callable[[torch.Tensor], torch.Tensor]  # x (B, S, D) -> (B, T)


@dataclass(frozen=True)
class Attributions:
    """values: (R, S) one attribution per chosen row and input position (Captum's, summed over D).
    rows: the R output rows (indices into the T rows of the score function).
    delta: (R,) Captum's convergence delta (integrated gradients only, else None).
    change: (R,) F(x) - F(baseline) per row: what integrated gradients' attributions must add up to.
    """

    method: Method
    values: torch.Tensor
    rows: tuple[int, ...]
    delta: torch.Tensor | None
    change: torch.Tensor


def attribute(
    score: Score,
    x: torch.Tensor,
    method: Method,
    rows: Sequence[int],
    steps: int = 32,
    baseline: torch.Tensor | None = None,
) -> Attributions:
    """Attributions of the chosen output rows of score to the positions of x (1, S, D) against baseline
    (1, S, D) (zeros when None)."""
    from captum.attr import FeatureAblation, InputXGradient, IntegratedGradients

    if x.dim() != 3 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, S, D), got {tuple(x.shape)}")
    x = x.detach()
    baseline = torch.zeros_like(x) if baseline is None else baseline.detach()  # (1, S, D)
    with torch.no_grad():
        change = (score(x) - score(baseline))[0, list(rows)]  # (R,)
    values, deltas = [], []
    for row in rows:
        if method == "integrated_gradients":
            attr, delta = IntegratedGradients(score).attribute(
                x,
                baselines=baseline,
                target=row,
                n_steps=steps,
                internal_batch_size=steps,
                return_convergence_delta=True,
            )
            deltas.append(delta.reshape(()))
        elif method == "input_x_gradient":
            attr = InputXGradient(score).attribute(x.clone().requires_grad_(True), target=row)
        elif method == "feature_ablation":
            S = x.shape[1]
            positions = torch.arange(S)[None, :, None].expand_as(x)  # (1, S, D): one feature per position
            attr = FeatureAblation(score).attribute(
                x, baselines=baseline, target=row, feature_mask=positions, perturbations_per_eval=S
            )
        else:
            raise ValueError(f"unknown attribution method {method!r}")
        # Captum gives every element of an ablated group the group's whole effect: read it once, not D times.
        values.append(attr.detach()[0].mean(dim=-1) if method == "feature_ablation" else attr.detach()[0].sum(dim=-1))
    return Attributions(
        method=method,
        values=torch.stack(values) if values else torch.zeros(0, x.shape[1]),
        rows=tuple(rows),
        delta=torch.stack(deltas).detach() if deltas else None,
        change=change,
    )


def completeness_holds(result: Attributions, tolerance: float = 0.05) -> torch.Tensor:
    """(R,) bool: |sum of a row's attributions - (F(x) - F(baseline))| <= tolerance * |F(x) - F(baseline)|."""
    gap = (result.values.sum(dim=-1) - result.change).abs()
    return gap <= tolerance * result.change.abs()
