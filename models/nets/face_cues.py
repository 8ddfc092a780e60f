"""Faces as grid-cell evidence for "person": OpenCV's frontal-face detector read as one cue per cell.

ImageNet has no person class, so the classifier grounding of captioner-sat-cnn (models/nets/cnn_grid.py) gives
"person" almost no evidence on a real photo of people: it named a portrait "a gorilla" and an astronaut "a frog".
A face detector trained on real photos of faces fills that gap the way the classifier fills it for the other
nouns. The detector is Viola & Jones (2001), a boosted cascade of Haar-like features, as OpenCV ships it
(`haarcascade_frontalface_alt2.xml` in the opencv-python-headless wheel; nothing is downloaded).

The cue of a cell is the share of the cell that the detected face boxes cover (the largest over the boxes), in
[0, 1]. It is the last column of each annotation vector, and the decoder adds it to the attended "person" evidence
(models/nets/sat.py, `cues`): a face only helps where the attention looks, so the map of "person" is still the
decoder's own softmax. Because the cue is a column of the features, a cell replaced by the blank canvas (deletion
curves, occlusion) loses its cue too, and attributions see it as part of the cell.

Detection runs on what the model sees: the 224 px input, back in grey levels, enlarged to SIDE px (bilinear), so
a face of about 12 input pixels is found. min_neighbors (how many overlapping raw detections a face needs) was
chosen on dev photos and validation scenes (reports/face_cues_choice.md).

Dimensions: B batch, (h, w) the grid, P = h * w cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # models/serve/images.py normalises pixels with these (RGB in [0, 1])
IMAGENET_STD = (0.229, 0.224, 0.225)
GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as OpenCV's own RGB -> grey conversion


@dataclass(frozen=True)
class FaceCueConfig:
    cascade: str = "haarcascade_frontalface_alt2.xml"  # a file of cv2.data.haarcascades
    side: int = 448  # detection image: the 224 px input enlarged twice
    scale_factor: float = 1.1  # pyramid step of the detector
    min_neighbors: int = 12  # raw detections a face needs (chosen on dev: reports/face_cues_choice.md)
    min_size: int = 24  # smallest face, detection pixels (the cascade's own window)


class FaceCues:
    """pixels (B, 3, H, W) ImageNet-normalised -> (B, P, 1) face cue per cell of an (h, w) grid."""

    def __init__(self, config: FaceCueConfig | None = None) -> None:
        self.config = config or FaceCueConfig()

    @cached_property
    def detector(self) -> Any:
        import cv2

        path = cv2.data.haarcascades + self.config.cascade  # type: ignore[attr-defined]
        detector = cv2.CascadeClassifier(path)
        if detector.empty():
            raise RuntimeError(f"OpenCV could not read the face cascade {path}")
        return detector

    def grey(self, pixels: torch.Tensor) -> np.ndarray:
        """(B, 3, H, W) normalised -> (B, side, side) uint8 grey levels, the input enlarged (bilinear)."""
        mean = pixels.new_tensor(IMAGENET_MEAN)[None, :, None, None]
        std = pixels.new_tensor(IMAGENET_STD)[None, :, None, None]
        rgb = (pixels.float() * std + mean).clamp(0, 1)  # (B, 3, H, W) in [0, 1]
        luma = (rgb * rgb.new_tensor(GREY)[None, :, None, None]).sum(dim=1, keepdim=True)  # (B, 1, H, W)
        side = self.config.side
        big = F.interpolate(luma, size=(side, side), mode="bilinear", align_corners=False)[:, 0]  # (B, side, side)
        return (big * 255).round().clamp(0, 255).to(torch.uint8).numpy()

    def boxes(self, grey: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(side, side) uint8 -> face boxes (x, y, width, height) in detection pixels."""
        c = self.config
        found = self.detector.detectMultiScale(
            np.ascontiguousarray(grey),
            scaleFactor=c.scale_factor,
            minNeighbors=c.min_neighbors,
            minSize=(c.min_size, c.min_size),
        )
        return [tuple(int(v) for v in box) for box in found]  # type: ignore[misc]

    def __call__(self, pixels: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        return torch.stack([cell_cover(self.boxes(g), grid, self.config.side) for g in self.grey(pixels)])[..., None]


def cell_cover(boxes: list[tuple[int, int, int, int]], grid: tuple[int, int], side: int) -> torch.Tensor:
    """(P,) per cell of an (h, w) grid over a side x side image: the largest share of the cell one box covers."""
    h, w = grid
    ys, xs = torch.arange(h + 1) * side / h, torch.arange(w + 1) * side / w  # cell edges
    cover = torch.zeros(h, w)
    for x, y, bw, bh in boxes:
        across = (xs[1:].clamp(max=x + bw) - xs[:-1].clamp(min=x)).clamp(min=0) / (side / w)  # (w,)
        down = (ys[1:].clamp(max=y + bh) - ys[:-1].clamp(min=y)).clamp(min=0) / (side / h)  # (h,)
        cover = torch.maximum(cover, down[:, None] * across[None, :])
    return cover.flatten()
