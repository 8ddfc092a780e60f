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

Dimensions: B batch, P = 49 cells, C = 1280 channels, K nouns with evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)

CHANNELS = 1280
GRID = (7, 7)


@dataclass(frozen=True)
class CnnGridOutput:
    """features (B, P, C) last feature map, cells row by row; logits (B, P, 1000) the classifier on every cell;
    annotations (B, P, C + K) what a caption decoder reads: features, then the evidence for each noun."""

    features: torch.Tensor
    logits: torch.Tensor
    annotations: torch.Tensor


class CnnGrid(nn.Module):
    """classifier: an EfficientNet with `extract_features` and a final linear `_fc`; evidence[k]: the ImageNet
    class ids of noun k (may be empty: that noun's evidence is 0 everywhere)."""

    def __init__(self, classifier: nn.Module, evidence: list[list[int]]) -> None:
        super().__init__()
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
        return CHANNELS + int(self.members.shape[1])

    @torch.inference_mode()
    def forward(self, pixels: torch.Tensor) -> CnnGridOutput:
        """pixels (B, 3, 224, 224) ImageNet-normalised."""
        grid = self.extract(pixels)  # (B, C, 7, 7)
        features = grid.flatten(2).transpose(1, 2)  # (B, P, C)
        logits = self.head(features)  # (B, P, 1000)
        evidence = logits.softmax(dim=-1) @ self.members  # (B, P, K)
        annotations = torch.cat([features, evidence], dim=-1)  # (B, P, C + K)
        return CnnGridOutput(features=features, logits=logits, annotations=annotations)
