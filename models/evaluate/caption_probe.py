"""Which DINOv2 layer's patch tokens still say *where* each object is?

A captioner can only point at an object if the patch tokens it attends over are local. This probe
fits one linear classifier per layer (patch token -> object name under the patch centre, or
"background") on training scenes, then plays the pointing game with it on validation scenes: for
each object, is the patch that the classifier finds most like that object inside its box?
It also reports how far a patch token has drifted towards the image average (cosine similarity of
a token with the mean token of its scene): ViT tokens mix globally as depth grows.

The test split is not read. Run: python -m models.evaluate.caption_probe [--train 300 --val 150]
Writes reports/caption_feature_probe.json.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from models.data.scene_features import GRID, scene_pixels
from models.data.scenes import DEFAULT_OUT, Scene, load_scenes
from models.serve.dinov2 import load_dinov2_backbone

log = logging.getLogger(__name__)

PATCH = 14  # px per patch side at 224 px
BACKGROUND = "background"


def centre_in_box(patch: int, box: tuple[int, int, int, int]) -> bool:
    """Whether the centre of patch `patch` (row-major over the grid) lies in box (left, top, right, bottom)."""
    x, y = (patch % GRID + 0.5) * PATCH, (patch // GRID + 0.5) * PATCH
    return box[0] <= x < box[2] and box[1] <= y < box[3]


def patch_labels(scene: Scene) -> list[str]:
    """The object under each patch centre (row-major over the grid), or BACKGROUND."""
    labels = []
    for patch in range(GRID * GRID):
        inside = [o.name for o in scene.objects if centre_in_box(patch, o.box)]
        labels.append(inside[0] if inside else BACKGROUND)
    return labels


@torch.inference_mode()
def layer_tokens(scenes: list[Scene], batch: int = 16) -> np.ndarray:
    """(n, L + 2, P, D): the embeddings, every layer's output, then the final LayerNorm output."""
    backbone = load_dinov2_backbone()
    out = []
    for k in tqdm(range(0, len(scenes), batch), desc="DINOv2", unit="batch"):
        pixels = torch.from_numpy(np.stack([scene_pixels(s) for s in scenes[k : k + batch]]))
        result = backbone(pixels)
        tokens = torch.cat([result.hidden_states, result.last_hidden.unsqueeze(1)], dim=1)[:, :, 1:]
        out.append(tokens.numpy().astype(np.float16))
    return np.concatenate(out)


def pointing(classifier: LogisticRegression, tokens: np.ndarray, scenes: list[Scene]) -> float:
    hits = total = 0
    classes = list(classifier.classes_)
    for scene, grid in zip(scenes, tokens, strict=True):
        proba = classifier.predict_proba(grid.astype(np.float32))  # (P, classes)
        for obj in scene.objects:
            if obj.name not in classes:
                continue
            hits += centre_in_box(int(proba[:, classes.index(obj.name)].argmax()), obj.box)
            total += 1
    return hits / max(total, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--val", type=int, default=150)
    parser.add_argument("--out", type=Path, default=Path("reports/caption_feature_probe.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    train = load_scenes(args.scenes, "train")[: args.train]
    val = load_scenes(args.scenes, "val")[: args.val]
    train_tokens, val_tokens = layer_tokens(train), layer_tokens(val)
    labels = np.array([label for s in train for label in patch_labels(s)])
    rng = np.random.default_rng(0)
    background = np.flatnonzero(labels == BACKGROUND)
    keep = np.concatenate([np.flatnonzero(labels != BACKGROUND), rng.choice(background, 4000, replace=False)])
    results = []
    for layer in range(train_tokens.shape[1]):
        x = train_tokens[:, layer].reshape(-1, train_tokens.shape[-1]).astype(np.float32)
        classifier = LogisticRegression(max_iter=300, C=0.1).fit(x[keep], labels[keep])
        grids = val_tokens[:, layer].astype(np.float32)
        mean = grids.mean(axis=1, keepdims=True)
        cosine = (grids * mean).sum(-1) / (np.linalg.norm(grids, axis=-1) * np.linalg.norm(mean, axis=-1) + 1e-6)
        name = "final LayerNorm" if layer == train_tokens.shape[1] - 1 else f"hidden_states[{layer}]"
        row = {
            "features": name,
            "probe_pointing": round(pointing(classifier, val_tokens[:, layer], val), 4),
            "cosine_to_scene_mean": round(float(cosine.mean()), 4),
        }
        log.info("%s", row)
        results.append(row)
    args.out.write_text(
        json.dumps({"train_scenes": len(train), "val_scenes": len(val), "layers": results}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
