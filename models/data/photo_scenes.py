"""Photo scenes: training scenes that are crops of whole real photos (models/data/gcompris_photos.py), one noun each.

The composed scenes paste cut-outs on backgrounds; the decoder trained on them alone reads a whole photo through
the frozen ImageNet classifier differently (reports/real_photo_eval.md: the classifier names the object, the decoder
another word). A photo scene is a random square crop of one labelled photo, 70-100% of its shorter side anywhere in
it, mirrored or not, with the composed scenes' scene-wide tone and blur jitter; its caption names the photo's noun
("a cat"; several animals of one kind in a photo are still "a cow": only the main object is labelled), and its box is
the whole canvas (no box was drawn, so the grounding loss has nothing to add for it). Views are shared out evenly
among the nouns (VIEWS_PER_NOUN each, the noun's photos in turn), so 28 fish photos count as much as one kitten.

Photo scenes are only ever added as training scenes after an existing set, whose scenes, ids and splits are copied
unchanged (validation and test scenes stay the composed ones). Tried for captioner-sat-cnn and rejected on dev photos
(reports/photo_scenes_choice.md: the decoder learned that a real photo shows one of the 45 nouns).
Run: python -m models.data.photo_scenes --scenes data/scenes --out data/scenes-photos [--photos data/gcompris]
"""

from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

from models.data import gcompris_photos
from models.data.extend_scenes import write_extended
from models.data.gcompris_photos import table
from models.data.scenes import CANVAS, Scene, SceneObject, _tone, captions, load_scenes

log = logging.getLogger(__name__)

PREFIX = "photo:"  # a photo scene's background and its object's source: "photo:<key>"
VIEWS_PER_NOUN = 27  # 45 nouns -> 1,215 scenes, a quarter of the 4,800 composed training scenes
CROP = (0.7, 1.0)  # square crop side as a share of the photo's shorter side


def compose_photo_scene(index: int, key: str, noun: str, seed: int = 0) -> Scene:
    """Photo scene `index`: a crop of photo `key` (the same arguments give the same scene)."""
    rng = random.Random(f"photo-scene-{seed}-{index}")
    height, width = gcompris_photos.photo_pixels(key).shape[:2]
    side = round(rng.uniform(*CROP) * min(height, width))
    crop = (rng.randint(0, width - side), rng.randint(0, height - side), side)
    flip = rng.random() < 0.5
    obj = SceneObject(noun, PREFIX + key, (0, 0, CANVAS, CANVAS), CANVAS, (0, 0), flip, 0.0, (1.0, 1.0, 1.0))
    blur = round(rng.choice((0.0, 0.0, 0.0, rng.uniform(0.3, 1.0))), 2)
    return Scene(index, "train", PREFIX + key, crop, (obj,), captions((obj,)), _tone(rng, 0.15), blur)


def with_photo_scenes(base: list[Scene], seed: int = 0) -> list[Scene]:
    """The base scenes unchanged, then VIEWS_PER_NOUN photo scenes per noun numbered after them (nouns in sorted
    order, each noun's photos taken in turn)."""
    start = len(base)
    if [s.id for s in base] != list(range(start)):
        raise ValueError("the base scenes must be numbered 0..n-1 in order")
    by_noun: dict[str, list[str]] = {}
    for photo in table():
        by_noun.setdefault(photo.noun, []).append(photo.key)
    views = [(keys[k % len(keys)], noun) for noun, keys in sorted(by_noun.items()) for k in range(VIEWS_PER_NOUN)]
    return base + [compose_photo_scene(start + i, key, noun, seed) for i, (key, noun) in enumerate(views)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--scenes", type=Path, default=Path("data/scenes"), help="the set to copy and extend")
    parser.add_argument("--out", type=Path, default=Path("data/scenes-photos"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    base = load_scenes(args.scenes)
    scenes = with_photo_scenes(base, args.seed)
    extra = {"photo_scenes": len(scenes) - len(base), "photo_seed": args.seed}
    write_extended(args.out, args.scenes, scenes, scenes[len(base) :: 97], extra)
    log.info("wrote %d scenes (%d photo scenes) to %s", len(scenes), len(scenes) - len(base), args.out)


if __name__ == "__main__":
    main()
