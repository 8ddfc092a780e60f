"""Attributions of a model's outputs to its input positions, computed with Captum (Kokhlikyan et al. 2020).

Every model is reduced to one function: score(x) with x (B, S, D) the embeddings of S input positions
(source tokens, image cells) and the result (B, T) one score per output row (a generated token's
log-probability, a similarity). The baseline is the model's own "nothing here" input (the unknown-token
embedding for text, as Inseq does), all-zero when none is given. A position's attribution is the sum over
D of Captum's attribution of its embedding (for feature_ablation, the one effect of removing the whole
position), so a row of T x S attributions has the layout of an attention map (rows = outputs, columns = inputs).

Methods:
- integrated_gradients: Sundararajan et al. 2017, Gauss-Legendre path with `steps` points (Captum's default);
  Captum's convergence delta sum(attributions) - (F(x) - F(baseline)) is returned per row.
- input_x_gradient: Shrikumar et al. 2016, x * dF/dx.
- feature_ablation: each position replaced by the baseline in turn (occlusion of one token / cell),
  F(x) - F(x with that position at baseline).

All R rows are explained together: integrated gradients and input x gradient run on R copies of x (one
target row each), so the R x `steps` interpolation points are one batched forward and backward (split into
`batch`-sized chunks by Captum's internal_batch_size); feature ablation reads every row from the same S
perturbed inputs (Captum attributes a multi-output forward per output).
Dimensions: B batch, S input positions, D embedding width, T output rows, R explained rows.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

Method = Literal["integrated_gradients", "input_x_gradient", "feature_ablation"]
METHODS: tuple[Method, ...] = ("integrated_gradients", "input_x_gradient", "feature_ablation")
Score = Callable[[torch.Tensor], torch.Tensor]  # x (B, S, D) -> (B, T)
BATCH = 128  # most inputs in one forward (interpolation points, perturbed inputs)


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
    batch: int = BATCH,
) -> Attributions:
    """Attributions of the chosen output rows of score to the positions of x (1, S, D) against baseline
    (1, S, D) (zeros when None)."""
    from captum.attr import FeatureAblation, InputXGradient, IntegratedGradients

    if x.dim() != 3 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, S, D), got {tuple(x.shape)}")
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}")
    rows = list(rows)
    R, S = len(rows), x.shape[1]
    x = x.detach()
    baseline = torch.zeros_like(x) if baseline is None else baseline.detach()  # (1, S, D)
    if R == 0:
        empty = torch.zeros(0)
        return Attributions(method, torch.zeros(0, S), (), empty if method == "integrated_gradients" else None, empty)
    with torch.no_grad():
        both = score(torch.cat([x, baseline.expand_as(x)]))[:, rows]  # (2, R)
        change = both[0] - both[1]  # (R,)
    copies, bases = x.expand(R, -1, -1), baseline.expand(R, -1, -1)  # (R, S, D): one copy per explained row
    delta = None
    if method == "integrated_gradients":
        attr, delta = IntegratedGradients(score).attribute(
            copies,
            baselines=bases,
            target=rows,
            n_steps=steps,
            internal_batch_size=max(1, min(R * steps, batch)),
            return_convergence_delta=True,
        )  # (R, S, D), (R,)
        values = attr.detach().sum(dim=-1)
    elif method == "input_x_gradient":
        values = InputXGradient(score).attribute(copies.clone().requires_grad_(True), target=rows).detach().sum(-1)
    else:
        positions = torch.arange(S)[None, :, None].expand_as(x)  # (1, S, D): one feature per position
        attr = FeatureAblation(lambda b: score(b)[:, rows]).attribute(
            x, baselines=baseline, feature_mask=positions, perturbations_per_eval=max(1, min(S, batch))
        )  # (R, S, D): one attribution per output of the forward
        # Captum gives every element of an ablated group the group's whole effect: read it once, not D times.
        values = attr.detach().mean(dim=-1)
    return Attributions(
        method=method,
        values=values.reshape(R, S),
        rows=tuple(rows),
        delta=None if delta is None else delta.detach().reshape(R),
        change=change,
    )


def completeness_holds(result: Attributions, tolerance: float = 0.05) -> torch.Tensor:
    """(R,) bool: |sum of a row's attributions - (F(x) - F(baseline))| <= tolerance * |F(x) - F(baseline)|."""
    gap = (result.values.sum(dim=-1) - result.change).abs()
    return gap <= tolerance * result.change.abs()
