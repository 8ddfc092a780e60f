"""Frozen DINOv2 ViT-S/14 patch features of every composed scene, computed once and cached.

Each scene is rendered (models.data.scenes.render_scene), encoded as PNG and read back through
the service's own `preprocess_image`, so training sees exactly what a served upload of the same
picture gives. The features are what the captioners read (models.nets.dinov2.patch_features): the
patch tokens of DINOv2 layer --layer (default models.nets.dinov2.FEATURE_LAYER; "last" = the final
LayerNorm output), a 16 x 16 grid of 384-d vectors per scene, stored as float16. Only the blocks
up to that layer are run.

--layer cnn instead reads the scenes through EfficientNet-Lite0 (models/nets/cnn_grid.py, the annotation
vectors of captioner-sat-cnn): a 7 x 7 grid of 1280 features + the class evidence of every scene noun
(models/data/imagenet_words.py), whose noun -> ImageNet classes table is saved in features-cnn.json.
--layer cnn14 is its fine pass (the scene enlarged twice: 14 x 14 x 1280), and --layer faces the face cue of each
of those 14 x 14 cells (models/nets/face_cues.py, with captioner-sat-cnn's served detector settings). Loading
"cnn14+faces" gives what captioner-sat-cnn reads: each fine cell, its 224 px cell with evidence, its face cue.

Output: <scenes>/features-<layer>.npy (n, 256, 384) float16, a memory-mapped array in scene-id
order, plus features-<layer>.done.npy (n,) bool, which scenes are finished: a killed run resumes
where it stopped. features-<layer>.json records the timing.

Run: python -m models.data.scene_features [--scenes data/scenes] [--layer 7] [--batch 8] [--threads 1]
     python -m models.data.scene_features --benchmark 32   (throughput only, writes nothing)
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from models.data.scene_objects import vocabulary
from models.data.scenes import DEFAULT_OUT, Scene, load_scenes, scene_png
from models.nets.dinov2 import FEATURE_LAYER, Dinov2Backbone, patch_features
from models.serve.dinov2 import load_dinov2_backbone
from models.serve.images import preprocess_image

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"

log = logging.getLogger(__name__)

GRID = 16  # patches per side of a 224 px scene
WIDTH = 384  # DINOv2 ViT-S token width


def scene_pixels(scene: Scene) -> np.ndarray:
    """(3, 224, 224) float32 ImageNet-normalised model input of a scene, via the upload path."""
    return preprocess_image(scene_png(scene)).pixels


class PixelCache:
    """<scenes>/pixels.npy (n, 3, 224, 224) float32 + pixels.done.npy: every scene's model input, kept by the
    first extraction so that a second backbone does not render and encode the scenes again."""

    def __init__(self, folder: Path, scenes: list[Scene]) -> None:
        self.scenes = scenes
        self.path, self.done_path = folder / "pixels.npy", folder / "pixels.done.npy"
        shape = (len(scenes), 3, 224, 224)
        if self.path.exists() and self.done_path.exists():
            self.pixels = np.lib.format.open_memmap(self.path, mode="r+")
            self.done = np.load(self.done_path)
            if self.pixels.shape != shape:
                raise ValueError(f"{self.path} is {self.pixels.shape}, expected {shape}; delete it")
        else:
            self.pixels = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32, shape=shape)
            self.done = np.zeros(len(scenes), dtype=bool)

    def batch(self, ids: list[int]) -> torch.Tensor:
        """(B, 3, 224, 224) the model inputs of these scenes, rendered where not cached yet."""
        for i in ids:
            if not self.done[i]:
                self.pixels[i] = scene_pixels(self.scenes[i])
                self.done[i] = True
        return torch.from_numpy(np.stack([np.asarray(self.pixels[i]) for i in ids]))

    def flush(self) -> None:
        self.pixels.flush()
        np.save(self.done_path, self.done)


CNN = "cnn"  # the --layer value of the EfficientNet-Lite0 grid
CNN_FINE = "cnn14"  # its fine pass: the scene enlarged twice, 14 x 14 x 1280 (models.nets.cnn_grid, two scales)
FACES = "faces"  # the face cue of each of the 14 x 14 cells (models.nets.face_cues, as captioner-sat-cnn serves it)
CNN_FINE_FACES = "cnn14+faces"  # what captioner-sat-cnn reads: the two-scale grid, then the face cue


class TwoScaleFeatures:
    """The two-scale CNN grid of every scene without a second copy on disk: indexing with a list of scene ids gives
    (B, 196, 2560 + K) float16, each fine cell (features-cnn14) followed by its 224 px cell (features-cnn)."""

    def __init__(self, fine: np.ndarray, coarse: np.ndarray, faces: np.ndarray | None = None) -> None:
        self.fine, self.coarse, self.faces = fine, coarse, faces
        extra = 0 if faces is None else faces.shape[2]
        self.shape = (fine.shape[0], fine.shape[1], fine.shape[2] + coarse.shape[2] + extra)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, ids: list[int]) -> np.ndarray:
        from models.nets.cnn_grid import with_parents

        fine = torch.from_numpy(np.ascontiguousarray(self.fine[ids]))
        coarse = torch.from_numpy(np.ascontiguousarray(self.coarse[ids]))
        both = with_parents(fine, coarse).numpy()
        if self.faces is None:
            return both
        return np.concatenate([both, np.asarray(self.faces[ids], dtype=both.dtype)], axis=-1)


def layer_name(layer: int | str | None) -> str:
    return "last" if layer is None else str(layer)


def feature_paths(folder: Path, layer: int | str | None) -> tuple[Path, Path, Path]:
    """The features, done-flags and info files of one layer."""
    stem = f"features-{layer_name(layer)}"
    return folder / f"{stem}.npy", folder / f"{stem}.done.npy", folder / f"{stem}.json"


@torch.inference_mode()
def scene_batch_features(backbone: Dinov2Backbone, pixels: torch.Tensor, layer: int | None) -> torch.Tensor:
    """pixels (B, 3, 224, 224) -> (B, P, D) captioner features, running only the blocks needed."""
    return patch_features(backbone(pixels, num_layers=layer), layer)


def cnn_encoder() -> tuple[Callable[[torch.Tensor], torch.Tensor], int, dict[str, Any]]:
    """(pixels -> (B, 49, 1280 + K) annotations, width, what to record) of the EfficientNet-Lite0 grid."""
    from models.data.imagenet_words import evidence_table
    from models.formats.efficientnet_lite import load_efficientnet_lite0
    from models.nets.cnn_grid import CnnGrid

    nouns = vocabulary()
    table = evidence_table(nouns)
    grid = CnnGrid(load_efficientnet_lite0(), table)
    record = {
        "evidence_nouns": list(nouns),
        "evidence_classes": table,
        "what": "EfficientNet-Lite0 7 x 7 grid: 1280 features + class evidence per noun "
        "(models.nets.cnn_grid.CnnGrid), scene-id order",
    }
    return (lambda pixels: grid(pixels).annotations), grid.annotation_dim, record


def cnn_fine_encoder() -> tuple[Callable[[torch.Tensor], torch.Tensor], int, dict[str, Any]]:
    """(pixels -> (B, 196, 1280) features of the pixels enlarged twice, width, what to record): the fine pass of
    the two-scale CNN grid (its coarse pass is CNN's features)."""
    from models.formats.efficientnet_lite import load_efficientnet_lite0
    from models.nets.cnn_grid import CHANNELS, enlarged

    extract: Callable[[torch.Tensor], torch.Tensor] = load_efficientnet_lite0().extract_features  # type: ignore[assignment]
    record = {"what": "EfficientNet-Lite0 features of the scene enlarged twice (bilinear): 14 x 14 x 1280"}
    return (lambda pixels: extract(enlarged(pixels)).flatten(2).transpose(1, 2)), CHANNELS, record


def faces_encoder() -> tuple[Callable[[torch.Tensor], torch.Tensor], int, dict[str, Any]]:
    """(pixels -> (B, 196, 1) face cue per cell of the 14 x 14 grid, width, what to record), with the detector
    settings captioner-sat-cnn is served with (its config.json `face_cues`)."""
    from models.nets.face_cues import FaceCueConfig, FaceCues

    config = json.loads((WEIGHTS / "captioner-sat-cnn" / "config.json").read_text()).get("face_cues", {})
    cues = FaceCues(FaceCueConfig(**config))
    record = {"what": "share of each 14 x 14 cell covered by a detected face (models.nets.face_cues)", **config}
    return (lambda pixels: cues(pixels, (14, 14))), 1, record


def extract(folder: Path, layer: int | str | None = FEATURE_LAYER, batch: int = 8) -> None:
    scenes = load_scenes(folder)
    n = len(scenes)
    path, done_path, info_path = feature_paths(folder, layer)
    if layer == CNN:
        encode, width, record = cnn_encoder()
        cells = 49
    elif layer == CNN_FINE:
        encode, width, record = cnn_fine_encoder()
        cells = 196
    elif layer == FACES:
        encode, width, record = faces_encoder()
        cells = 196
    else:
        backbone = load_dinov2_backbone()
        depth = layer if isinstance(layer, int) or layer is None else int(layer)
        encode, width, cells = (lambda pixels: scene_batch_features(backbone, pixels, depth)), WIDTH, GRID * GRID
        record = {
            "what": f"DINOv2 ViT-S/14 patch tokens of layer {layer_name(layer)} "
            "(models.nets.dinov2.patch_features), scene-id order"
        }
    shape = (n, cells, width)
    if path.exists() and done_path.exists():
        features = np.lib.format.open_memmap(path, mode="r+")
        done = np.load(done_path)
        if features.shape != shape:
            raise ValueError(f"{path} is {features.shape}, expected {shape}; delete it")
    else:
        features = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=shape)
        done = np.zeros(n, dtype=bool)
    first = {"val": 0, "test": 1}  # the scenes evaluations read come first; training's follow
    todo = sorted((i for i in range(n) if not done[i]), key=lambda i: (first.get(scenes[i].split, 2), i))
    log.info("%d of %d scenes left", len(todo), n)
    cache = PixelCache(folder, scenes)
    start = time.perf_counter()
    for k in tqdm(range(0, len(todo), batch), desc=f"features-{layer_name(layer)}", unit="batch"):
        ids = todo[k : k + batch]
        pixels = cache.batch(ids)  # (B, 3, 224, 224)
        with torch.inference_mode():
            features[ids] = encode(pixels).numpy().astype(np.float16)
        done[ids] = True
        if (k // batch) % 25 == 0 or k + batch >= len(todo):
            features.flush()
            np.save(done_path, done)
            cache.flush()
    seconds = time.perf_counter() - start
    info = json.loads(info_path.read_text()) if info_path.exists() else {"seconds": 0.0}
    info.update(
        scenes=n,
        shape=list(shape),
        dtype="float16",
        seconds=round(info["seconds"] + seconds, 1),
        threads=torch.get_num_threads(),
        batch=batch,
        **record,
    )
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    log.info("extracted %d scenes in %.1f s", len(todo), seconds)


def load_features(folder: Path, layer: int | str | None = FEATURE_LAYER, needed: list[int] | None = None) -> Any:
    """(n, P, D) float16 memory map of one layer (CNN_FINE: both CNN scales, TwoScaleFeatures; CNN_FINE_FACES: and
    the face cue); ValueError when extraction has not finished for every scene (for the `needed` scene ids only,
    when given: the evaluation splits are extracted first)."""
    if layer == CNN_FINE:
        return TwoScaleFeatures(_load(folder, CNN_FINE, needed), _load(folder, CNN, needed))
    if layer == CNN_FINE_FACES:
        parts = (_load(folder, CNN_FINE, needed), _load(folder, CNN, needed), _load(folder, FACES, needed))
        return TwoScaleFeatures(*parts)
    return _load(folder, layer, needed)


def _load(folder: Path, layer: int | str | None, needed: list[int] | None = None) -> np.ndarray:
    path, done_path, _ = feature_paths(folder, layer)
    if not done_path.exists():
        raise ValueError(f"no layer-{layer_name(layer)} features in {folder}; run models.data.scene_features")
    done = np.load(done_path)
    if needed is not None:
        done = done[needed]
    if not done.all():
        raise ValueError(f"{(~done).sum()} of {done.size} scenes in {folder} have no features yet")
    return np.load(path, mmap_mode="r")


def benchmark(folder: Path, count: int) -> None:
    scenes = load_scenes(folder)[:count]
    backbone = load_dinov2_backbone()
    for batch in (1, 4, 8, 16):
        pixels = torch.from_numpy(np.stack([scene_pixels(s) for s in scenes[:batch]]))
        scene_batch_features(backbone, pixels, FEATURE_LAYER)  # warm-up
        start = time.perf_counter()
        for _ in range(0, count, batch):
            scene_batch_features(backbone, pixels, FEATURE_LAYER)
        seconds = (time.perf_counter() - start) / (len(range(0, count, batch)) * batch)
        log.info("batch %2d: %.3f s per scene (%d threads)", batch, seconds, torch.get_num_threads())
    start = time.perf_counter()
    for s in scenes:
        scene_pixels(s)
    log.info("render + PNG + preprocess: %.4f s per scene", (time.perf_counter() - start) / len(scenes))


def parse_layer(text: str) -> int | str | None:
    return None if text == "last" else text if text in (CNN, CNN_FINE, FACES, CNN_FINE_FACES) else int(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--layer", default=layer_name(FEATURE_LAYER), help='hidden_states index, or "last"')
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--benchmark", type=int, default=0, help="time this many scenes per batch size and stop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    if args.benchmark:
        benchmark(args.scenes, args.benchmark)
    else:
        extract(args.scenes, parse_layer(args.layer), args.batch)


if __name__ == "__main__":
    main()
