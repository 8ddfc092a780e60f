"""Attention grounding for the Show-Attend-Tell trainer (models/train/captioner.py --grounding LAMBDA).

Supervised attention in the spirit of Liu et al. 2017, "Attention Correctness in Neural Image Captioning": the
composed scenes (models/data/scenes.py) record every object's name and box, so for every teacher-forced target word
that names an object of its scene the trainer adds

    LAMBDA * mean over those words of -log(sum_{i in cells(word)} alpha_ti + EPS)

alpha_t (B, T, P) the attention of the step that predicts word t (the map shown for it), cells(word) the cells of the
decoder's grid (config.grid: 7 x 7 or 14 x 14 CNN cells, 16 x 16 DINOv2 patches) whose centres lie inside a box of
an object with that name in the scene: the strict pointing game's test (`cells_in_box`, which
models/evaluate/captions.py scores the held-out scenes with), so the loss raises the mass where the pointing game
looks. A box too small to hold any cell centre gets the cell that holds its own centre. The words are looked up by
name, so any phrasing of a scene's caption (canonical or random) is grounded alike; "a", "to the left of" and <eos>
name no object and add nothing. The attention itself is supervised, not beta_t * alpha_t: the gate (and
--gated-coverage) are left alone.

The cells are built once per training set (`noun_cells`): per scene, the vocabulary id of each distinct object name
and a (P,) bool row of its cells, about N x 3 x P bools in all.

Dimensions: N scenes, K most distinct object names in a scene, B batch, T target words, P = h * w grid cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.data.scenes import CANVAS, Scene

EPS = 1e-6  # added to the attention mass inside the box before the log

Box = tuple[int, int, int, int]  # (left, top, right, bottom) px on the 224 px canvas


def cells_in_box(box: Box, grid: tuple[int, int]) -> np.ndarray:
    """(h * w,) bool: the cells of an h x w grid over the canvas whose centres (x, y) lie inside the box,
    left <= x < right and top <= y < bottom (the strict pointing game's test)."""
    h, w = grid
    ph, pw = CANVAS / h, CANVAS / w  # px per cell: 14 for DINOv2's patches, 16 or 32 for the CNN grid
    rows, cols = np.divmod(np.arange(h * w), w)  # (P,) each
    cx, cy = (cols + 0.5) * pw, (rows + 0.5) * ph
    left, top, right, bottom = box
    return (left <= cx) & (cx < right) & (top <= cy) & (cy < bottom)


def box_cells(box: Box, grid: tuple[int, int]) -> np.ndarray:
    """(h * w,) bool: `cells_in_box`, or for a box that holds no cell centre the one cell holding the box's centre."""
    inside = cells_in_box(box, grid)
    if not inside.any():
        h, w = grid
        left, top, right, bottom = box
        row = min(int((top + bottom) / 2 // (CANVAS / h)), h - 1)
        col = min(int((left + right) / 2 // (CANVAS / w)), w - 1)
        inside[row * w + col] = True
    return inside


@dataclass(frozen=True)
class NounCells:
    """The object nouns of every training scene and their grid cells, built once by `noun_cells`.

    words: (N, K) long, the vocabulary id of scene n's k-th distinct object name; -1 after its last name (and for a
        name outside the vocabulary), so it matches no word.
    cells: (N, K, P) bool, the cells of that name's boxes (`box_cells`, or-ed over objects of the same name).
    """

    words: torch.Tensor
    cells: torch.Tensor

    def step_cells(self, rows: Sequence[int], targets: torch.Tensor) -> torch.Tensor:
        """targets (B, T) the target ids of scenes `rows` -> (B, T, P) bool, the cells of the object each target word
        names; all False where it names no object of its scene."""
        index = torch.as_tensor(rows, dtype=torch.long)
        match = targets[:, :, None] == self.words[index][:, None, :]  # (B, T, K)
        return (match[..., None] & self.cells[index][:, None]).any(dim=2)  # (B, T, K, P) -> (B, T, P)


def noun_cells(scenes: Sequence[Scene], index: dict[str, int], grid: tuple[int, int]) -> NounCells:
    """The NounCells of these scenes (row n = scenes[n]) for a vocabulary index and an h x w attention grid."""
    names = [sorted({o.name for o in scene.objects}) for scene in scenes]
    K = max((len(n) for n in names), default=1)
    words = torch.full((len(scenes), K), -1, dtype=torch.long)
    cells = np.zeros((len(scenes), K, grid[0] * grid[1]), dtype=bool)
    for n, scene in enumerate(scenes):
        for k, name in enumerate(names[n]):
            words[n, k] = index.get(name, -1)
            for o in scene.objects:
                if o.name == name:
                    cells[n, k] |= box_cells(o.box, grid)
    return NounCells(words, torch.from_numpy(cells))


def grounding_loss(attentions: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Mean over the steps with any cell of -log(attention mass on the cells + EPS); 0 when no step has one.

    attentions (B, T, P) alpha_t, each row a softmax; cells (B, T, P) bool (NounCells.step_cells)."""
    grounded = cells.any(dim=-1)  # (B, T)
    if not grounded.any():
        return attentions.new_zeros(())
    mass = (attentions * cells).sum(dim=-1)  # (B, T)
    return -torch.log(mass[grounded] + EPS).mean()
