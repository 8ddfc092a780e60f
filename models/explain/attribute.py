"""Attributions of a model's outputs to its input positions, computed with Captum (Kokhlikyan et al. 2020).

Every model is reduced to one function: score(x) with x (B, S, D) the embeddings of S input positions
(source tokens, image cells) and the result (B, T) one score per output row (a generated token's
log-probability, a similarity). The baseline is the model's own "nothing here" input (the unknown-token
embedding for text, as Inseq does), all-zero when none is given. A position's attribution is the sum over
D of Captum's attribution of its embedding (for feature_ablation, the one effect of removing the whole
position), so a row of T x S attributions has the layout of an attention map (rows = outputs, columns = inputs).

Methods:
- integrated_gradients: Sundararajan et al. 2017, `steps` gradient points on the straight path, Captum's
  Gauss-Legendre rule applied piecewise: forward passes alone (no gradients) first trace F along the path, which is
  cut into SEGMENTS pieces holding equal shares of F's variation (plus a uniform floor), and Captum integrates each
  piece with steps / SEGMENTS points (IG is additive along the path: the pieces' attributions sum to the whole
  path's). Why: the translators' score often stays flat over most of the path and changes within a third of it,
  and its slope is rough there (Marian's ReLU feed-forward layers give it thousands of kinks; rnn-dot's unscaled
  softmax nearly jumps), while one 32-point Gauss-Legendre rule over [0, 1] puts its sparsest points in the middle.
  A model may have its own Rule (RULES, chosen on dev rows): more pieces, or pieces holding equal shares of the
  variation of F's slope rather than of F (cut "slope": where the slope bends, as rnn-dot's does).
  Captum's convergence delta sum(attributions) - (F(x) - F(baseline)) is returned per row (the pieces' deltas
  add up to it).
- input_x_gradient: Shrikumar et al. 2016, x * dF/dx.
- feature_ablation: each position replaced by the baseline in turn (occlusion of one token / cell),
  F(x) - F(x with that position at baseline).

All R rows are explained together: integrated gradients runs the R x SEGMENTS pieces as one Captum call (one
piece per copy, each with its own start as baseline) and input x gradient R copies of x (one target row each), so
the R x `steps` interpolation points are one batched forward and backward (split into `batch`-sized chunks by
Captum's internal_batch_size); feature ablation reads every row from the same S perturbed inputs (Captum
attributes a multi-output forward per output).
Dimensions: B batch, S input positions, D embedding width, T output rows, R explained rows.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

Method = Literal["integrated_gradients", "input_x_gradient", "feature_ablation"]
Cut = Literal["score", "slope"]  # integrated gradients' pieces hold equal shares of the score's or the slope's change
METHODS: tuple[Method, ...] = ("integrated_gradients", "input_x_gradient", "feature_ablation")
Score = Callable[[torch.Tensor], torch.Tensor]  # x (B, S, D) -> (B, T)
BATCH = 128  # most inputs in one forward (interpolation points, perturbed inputs)
SEGMENTS = 4  # integrated gradients: pieces of the path, each with steps / SEGMENTS Gauss-Legendre points
SCAN = 16  # uniform cells of the forward-only trace of F along the path
REFINE = (3, 8)  # then 3 rounds, each halving the 8 cells where F changes most (41 forward points per row)
FLOOR = 0.1  # share of F's total variation spread evenly over the path, so flat stretches keep some points


@dataclass(frozen=True)
class Rule:
    """How integrated gradients spends its gradient points: pieces of the path, and where they are cut."""

    segments: int = SEGMENTS
    cut: Cut = "score"


# Per model, the rule with the most complete dev rows among 4 pieces cut by the score (the default), 4 cut by the
# slope and 16 cut by the score, the default on ties; dev rows only (Bible dev verses, validation scenes):
# `python -m models.evaluate.ig_completeness --limit 40 --scenes 40 --segments 4 4:slope 16`, reports/ig_rules_dev.json.
RULES: dict[str, Rule] = {
    "rnn-dot-en-es": Rule(4, "slope"),  # dev rows complete: 93.75% -> 98.75% (16 pieces: 96.25%)
    "captioner-sat-cnn": Rule(4, "slope"),  # with its zero baseline (models/explain/families.py CNN_BASELINE)
}


def rule_of(model_id: str) -> Rule:
    """The integration rule chosen for a model on its dev rows (RULES), else the default."""
    return RULES.get(model_id, Rule())


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
    segments: int = SEGMENTS,
    cut: Cut = "score",
) -> Attributions:
    """Attributions of the chosen output rows of score to the positions of x (1, S, D) against baseline
    (1, S, D) (zeros when None). segments: integrated gradients' pieces of the path (1: one Gauss-Legendre rule
    over the whole path, no forward scan); cut: where the pieces are cut (see boundaries)."""
    from captum.attr import FeatureAblation, InputXGradient

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
    copies = x.expand(R, -1, -1)  # (R, S, D): one copy per explained row (input x gradient)
    delta = None
    if method == "integrated_gradients":
        values, delta = piecewise_integrated_gradients(score, x, baseline, rows, steps, segments, batch, cut)
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


def trace(score: Score, x: torch.Tensor, baseline: torch.Tensor, rows: list[int], batch: int) -> list[torch.Tensor]:
    """F along the straight path from forward passes only: per row, (N, 2) sorted (alpha, F) pairs, SCAN uniform
    cells refined where F changes most."""

    def along(alphas: torch.Tensor) -> torch.Tensor:  # (N,) -> (N, R)
        points = baseline + alphas.float()[:, None, None] * (x - baseline)  # (N, S, D)
        with torch.no_grad():
            return torch.cat([score(chunk)[:, rows] for chunk in points.split(batch)]).double()

    grid = torch.linspace(0, 1, SCAN + 1, dtype=torch.float64)  # (N,)
    values = along(grid)  # (N, R)
    paths = [torch.stack([grid, values[:, j]], dim=1) for j in range(len(rows))]  # (N, 2) per row
    rounds, cells = REFINE
    for _ in range(rounds):
        middles = []
        for path in paths:
            steep = path[:, 1].diff().abs().topk(min(cells, len(path) - 1)).indices  # cells where F changes most
            middles.append((path[steep, 0] + path[steep + 1, 0]) / 2)
        values = along(torch.cat(middles))  # (sum of new points, R)
        start = 0
        for j, middle in enumerate(middles):
            new = torch.stack([middle, values[start : start + len(middle), j]], dim=1)
            start += len(middle)
            merged = torch.cat([paths[j], new])
            paths[j] = merged[merged[:, 0].argsort()]
    return paths


def boundaries(path: torch.Tensor, segments: int, cut: Cut = "score") -> list[float]:
    """segments + 1 alphas from 0 to 1 cutting a traced path (N, 2) into pieces with equal shares of F's variation
    (cut "score"), or of the variation of its slope (cut "slope": the change of the traced cells' slopes, half
    to each of the two cells it lies between), plus FLOOR of it spread evenly."""
    alphas, values = path[:, 0], path[:, 1]
    change = values.diff().abs()  # (N-1,) per cell
    if cut == "slope":
        bend = (values.diff() / alphas.diff()).diff().abs()  # (N-2,) slope change between neighbouring cells
        change = torch.zeros_like(change)
        change[:-1] += bend / 2
        change[1:] += bend / 2
    weight = change + FLOOR * change.sum() * alphas.diff() + 1e-12  # uniform floor; no zero-weight cells
    cumulative = torch.cat([weight.new_zeros(1), weight.cumsum(0)]) / weight.sum()  # (N,) from 0 to 1
    quantiles = np.linspace(0, 1, segments + 1)
    cuts = np.interp(quantiles, cumulative.numpy(), alphas.numpy())
    cuts[0], cuts[-1] = 0.0, 1.0
    return cuts.tolist()


def piecewise_integrated_gradients(
    score: Score,
    x: torch.Tensor,
    baseline: torch.Tensor,
    rows: list[int],
    steps: int,
    segments: int,
    batch: int,
    cut: Cut = "score",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated gradients of each row with `steps` gradient points in all: (R, S) values and (R,) Captum's
    convergence delta, the sum over the row's pieces (each piece is a Captum call from one cut to the next)."""
    from captum.attr import IntegratedGradients

    R, S = len(rows), x.shape[1]
    K = max(1, min(segments, steps))
    cuts = [[0.0, 1.0]] * R if K == 1 else [boundaries(p, K, cut) for p in trace(score, x, baseline, rows, batch)]
    points = [  # per row, its K + 1 cut points (1, S, D): the baseline and x themselves at the ends
        [baseline if a == 0 else x if a == 1 else baseline + a * (x - baseline) for a in row_cuts] for row_cuts in cuts
    ]
    counts = [steps // K + (k < steps % K) for k in range(K)]  # Gauss-Legendre points per piece
    values = torch.zeros(R, K, S)
    delta = torch.zeros(R, K)
    for n in sorted(set(counts)):  # one Captum call per distinct number of points (one when K divides steps)
        pieces = [(j, k) for j in range(R) for k in range(K) if counts[k] == n]
        attr, piece_delta = IntegratedGradients(score).attribute(
            torch.cat([points[j][k + 1] for j, k in pieces]),  # (P, S, D) piece ends
            baselines=torch.cat([points[j][k] for j, k in pieces]),  # (P, S, D) piece starts
            target=[rows[j] for j, _ in pieces],
            n_steps=n,
            internal_batch_size=max(1, min(len(pieces) * n, batch)),
            return_convergence_delta=True,
        )  # (P, S, D), (P,)
        for i, (j, k) in enumerate(pieces):
            values[j, k] = attr[i].detach().sum(dim=-1)
            delta[j, k] = piece_delta[i].detach()
    return values.sum(dim=1), delta.sum(dim=1)


def completeness_holds(result: Attributions, tolerance: float = 0.05) -> torch.Tensor:
    """(R,) bool: |sum of a row's attributions - (F(x) - F(baseline))| <= tolerance * |F(x) - F(baseline)|."""
    gap = (result.values.sum(dim=-1) - result.change).abs()
    return gap <= tolerance * result.change.abs()
