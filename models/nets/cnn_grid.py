"""A frozen ImageNet CNN read as a grid of annotation vectors, with per-cell class evidence for named nouns.

Show, Attend and Tell (Xu et al. 2015) attends over the last convolutional feature map of a CNN trained on
ImageNet (they used VGG's 14 x 14 x 512 conv5_4). Here the CNN is EfficientNet-Lite0
(models/formats/efficientnet_lite.py): a 224 px input gives a 7 x 7 grid of 1280-d cells (32 px each).

Grounding (what lets a decoder trained on composed scenes name objects in real photos): the classifier
head is linear after average pooling, so applying it to every cell gives per-cell ImageNet logits (B, P, 1000).
Each caption noun k has a set of ImageNet classes (its WordNet hyponyms, models/data/imagenet_words.py);
the cell's evidence for k is the softmax probability mass of those classes, e_k = sum_{c in C_k} p_c. The
annotation vector of a cell is [features (1280); e (K)], so the decoder's attention and output layer can
read "this cell looks like a cat" as the classifier, trained on real photos, sees it. (Probabilities, not
their logs: log(e + 1e-4) sits near -9 for almost every noun, and under the decoder's LayerNorm that
constant block drowned the features: the first decoder trained on it shut its gate on every noun.)

Two scales (captioner-sat-cnn): a 7 x 7 grid of 32 px cells is too coarse to point at the composed scenes'
smaller objects, and the classifier recognises them poorly at that size. With scales = 2 the photo is also read
enlarged twice (bilinear, 448 px): a 14 x 14 grid of 16 px cells, each cell's vector the enlarged pass's features
followed by the features of the 224 px pass's cell it lies in (what the classifier sees of a whole real photo at
its own scale). No evidence columns then: the decoder applies the classifier head to both itself.

Faces (`faces`, models/nets/face_cues.py): one more column at the very end of each annotation vector, the share of
the cell a detected face covers, the decoder's evidence for "person", which ImageNet has no class for.

Dimensions: B batch, P = 49 (or 196) cells, C = 1280 channels, K nouns with evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from models.nets.face_cues import FaceCues

log = logging.getLogger(__name__)

CHANNELS = 1280
GRID = (7, 7)


def enlarged(pixels: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, 2H, 2W) bilinear: the fine pass's input."""
    return F.interpolate(pixels, scale_factor=2, mode="bilinear", align_corners=False)


def with_parents(fine: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """fine (B, 4P, C) cells of the enlarged pass, coarse (B, P, C') of the 224 px pass -> (B, 4P, C + C'), each
    fine cell followed by the coarse cell it lies in (row-major grids, the fine one twice as wide)."""
    B, P, C = coarse.shape
    side = round(P**0.5)
    parents = coarse.reshape(B, side, 1, side, 1, C).expand(B, side, 2, side, 2, C).reshape(B, 4 * P, C)
    return torch.cat([fine, parents], dim=-1)


@dataclass(frozen=True)
class CnnGridOutput:
    """features (B, P, C) last feature map, cells row by row; logits (B, 49, 1000) the classifier on every 224 px
    cell; annotations (B, P, C + K) what a caption decoder reads: features, then the evidence for each noun (two
    scales: (B, 196, 2C + K), see CnnGrid.forward), then the face cue when the grid has `faces`."""

    features: torch.Tensor
    logits: torch.Tensor
    annotations: torch.Tensor


class CnnGrid(nn.Module):
    """classifier: an EfficientNet with `extract_features` and a final linear `_fc`; evidence[k]: the ImageNet
    class ids of noun k (may be empty: that noun's evidence is 0 everywhere)."""

    def __init__(
        self, classifier: nn.Module, evidence: list[list[int]], scales: int = 1, faces: FaceCues | None = None
    ) -> None:
        super().__init__()
        self.faces = faces
        if scales not in (1, 2):
            raise ValueError(f"scales must be 1 or 2, got {scales}")
        self.scales = scales
        self.classifier = classifier.eval()
        self.extract: Callable[[torch.Tensor], torch.Tensor] = classifier.extract_features  # type: ignore[assignment]
        self.head: nn.Module = classifier._fc  # type: ignore[assignment]
        members = torch.zeros(1000, len(evidence))
        for k, ids in enumerate(evidence):
            members[ids, k] = 1.0
        self.members: torch.Tensor
        self.register_buffer("members", members)  # (1000, K)

    @property
    def annotation_dim(self) -> int:
        return self.scales * CHANNELS + int(self.members.shape[1]) + (self.faces is not None)

    @property
    def grid(self) -> tuple[int, int]:
        return (GRID[0] * self.scales, GRID[1] * self.scales)

    @property
    def cell(self) -> int:
        """Pixels of the 224 px input per cell: 32, or 16 with two scales."""
        return 32 // self.scales

    @torch.inference_mode()
    def forward(self, pixels: torch.Tensor) -> CnnGridOutput:
        """pixels (B, 3, 224, 224) ImageNet-normalised. With two scales, features are the fine pass's (B, 196, C)
        and logits stay the 224 px pass's (B, 49, 1000): the decoder applies the head to the fine cells itself."""
        grid = self.extract(pixels)  # (B, C, 7, 7)
        features = grid.flatten(2).transpose(1, 2)  # (B, P, C)
        logits = self.head(features)  # (B, P, 1000)
        evidence = logits.softmax(dim=-1) @ self.members  # (B, P, K)
        if self.scales == 2:
            fine = self.extract(enlarged(pixels)).flatten(2).transpose(1, 2)  # (B, 4P, C)
            annotations = with_parents(fine, torch.cat([features, evidence], dim=-1))  # (B, 4P, 2C + K)
            features = fine
        else:
            annotations = torch.cat([features, evidence], dim=-1)  # (B, P, C + K)
        if self.faces is not None:
            cues = self.faces(pixels, self.grid).to(annotations.dtype)  # (B, P, 1)
            annotations = torch.cat([annotations, cues], dim=-1)  # (B, P, ... + 1)
        return CnnGridOutput(features=features, logits=logits, annotations=annotations)
