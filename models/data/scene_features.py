"""Frozen DINOv2 ViT-S/14 patch features of every composed scene, computed once and cached.

Each scene is rendered (models.data.scenes.render_scene), encoded as PNG and read back through
the service's own `preprocess_image`, so training sees exactly what a served upload of the same
picture gives. The features are the patch tokens of DINOv2's last layer after the final LayerNorm
(`last_hidden[:, 1:]`), a 16 x 16 grid of 384-d vectors per scene, stored as float16.

Output: <scenes>/features.npy (n, 256, 384) float16, a memory-mapped array in scene-id order,
plus features.done.npy (n,) bool, which scenes are finished: a killed run resumes where it stopped.
features.json records the timing.

Run: python -m models.data.scene_features [--scenes data/scenes] [--batch 8] [--threads 1]
     python -m models.data.scene_features --benchmark 32   (throughput only, writes nothing)
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.data.scenes import DEFAULT_OUT, Scene, load_scenes, scene_png
from models.dinov2 import Dinov2Backbone, load_dinov2_backbone
from models.image_preprocess import preprocess_image

log = logging.getLogger(__name__)

GRID = 16  # patches per side of a 224 px scene
WIDTH = 384  # DINOv2 ViT-S token width


def scene_pixels(scene: Scene) -> np.ndarray:
    """(3, 224, 224) float32 ImageNet-normalised model input of a scene, via the upload path."""
    return preprocess_image(scene_png(scene)).pixels


@torch.inference_mode()
def patch_features(backbone: Dinov2Backbone, pixels: torch.Tensor) -> torch.Tensor:
    """pixels (B, 3, 224, 224) -> (B, P, D) last-layer patch tokens after the final LayerNorm."""
    return backbone(pixels).last_hidden[:, 1:]  # (B, P, D)


def extract(folder: Path, batch: int = 8) -> None:
    scenes = load_scenes(folder)
    n = len(scenes)
    path, done_path = folder / "features.npy", folder / "features.done.npy"
    if path.exists() and done_path.exists():
        features = np.lib.format.open_memmap(path, mode="r+")
        done = np.load(done_path)
        if features.shape != (n, GRID * GRID, WIDTH):
            raise ValueError(f"{path} is {features.shape}, expected {(n, GRID * GRID, WIDTH)}; delete it")
    else:
        features = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, GRID * GRID, WIDTH))
        done = np.zeros(n, dtype=bool)
    todo = [i for i in range(n) if not done[i]]
    log.info("%d of %d scenes left", len(todo), n)
    backbone = load_dinov2_backbone()
    start = time.perf_counter()
    for k in tqdm(range(0, len(todo), batch), desc="DINOv2 features", unit="batch"):
        ids = todo[k : k + batch]
        pixels = torch.from_numpy(np.stack([scene_pixels(scenes[i]) for i in ids]))  # (B, 3, 224, 224)
        features[ids] = patch_features(backbone, pixels).numpy().astype(np.float16)
        done[ids] = True
        if (k // batch) % 25 == 0 or k + batch >= len(todo):
            features.flush()
            np.save(done_path, done)
    seconds = time.perf_counter() - start
    info_path = folder / "features.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {"seconds": 0.0}
    info.update(
        scenes=n,
        shape=[n, GRID * GRID, WIDTH],
        dtype="float16",
        what="DINOv2 ViT-S/14 last_hidden patch tokens (after the final LayerNorm), scene-id order",
        seconds=round(info["seconds"] + seconds, 1),
        threads=torch.get_num_threads(),
        batch=batch,
    )
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    log.info("extracted %d scenes in %.1f s", len(todo), seconds)


def load_features(folder: Path) -> np.ndarray:
    """(n, P, D) float16 memory map; ValueError when extraction has not finished."""
    done = np.load(folder / "features.done.npy")
    if not done.all():
        raise ValueError(f"{(~done).sum()} of {done.size} scenes in {folder} have no features yet")
    return np.load(folder / "features.npy", mmap_mode="r")


def benchmark(folder: Path, count: int) -> None:
    scenes = load_scenes(folder)[:count]
    backbone = load_dinov2_backbone()
    for batch in (1, 4, 8, 16):
        pixels = torch.from_numpy(np.stack([scene_pixels(s) for s in scenes[:batch]]))
        patch_features(backbone, pixels)  # warm-up
        start = time.perf_counter()
        for _ in range(0, count, batch):
            patch_features(backbone, pixels)
        seconds = (time.perf_counter() - start) / (len(range(0, count, batch)) * batch)
        log.info("batch %2d: %.3f s per scene (%d threads)", batch, seconds, torch.get_num_threads())
    start = time.perf_counter()
    for s in scenes:
        scene_pixels(s)
    log.info("render + PNG + preprocess: %.4f s per scene", (time.perf_counter() - start) / len(scenes))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--benchmark", type=int, default=0, help="time this many scenes per batch size and stop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    if args.benchmark:
        benchmark(args.scenes, args.benchmark)
    else:
        extract(args.scenes, args.batch)


if __name__ == "__main__":
    main()
