"""Close-up scenes: one object filling most of the frame and cut by its edges, as in a whole photo of one thing.

Most whole photos (reports/real_photo_eval.md: an orange, a cup of coffee, a wall clock, a chimpanzee) show one
object large and cropped by the frame; the composed scenes of models/data/scenes.py never do (a lone object is at
most 190 px of the 224 px canvas and always whole). A close-up scene follows the same rules as a composed one
(background crop, picture choice, object and scene jitter and blur) but for its single object: its longer side is
SIZES px, its centre lies in the middle half of the canvas, and at least MIN_VISIBLE of its pixels stay inside the
canvas; its box is the visible part. Caption: "a dog".

Close-ups are only ever added as training scenes after an existing set, whose scenes, ids and splits are copied
unchanged (validation and test scenes stay the composed ones).
Run: python -m models.data.closeups --scenes data/scenes --out data/scenes-closeup --n 3000 [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

from models.data.extend_scenes import write_extended
from models.data.scene_objects import background_crop, choose_picture, scaled_sprite, visible_mask
from models.data.scenes import (
    CANVAS,
    MIN_VISIBLE,
    OBJECT_NAMES,
    Scene,
    SceneObject,
    _box,
    _tone,
    captions,
    load_scenes,
)

log = logging.getLogger(__name__)

SIZES = (200, 340)  # longer side of the object in px, against the 224 px canvas


def compose_closeup(index: int, seed: int = 0) -> Scene:
    """Close-up training scene `index` of the set made with `seed`: the same arguments give the same scene."""
    rng = random.Random(f"closeup-scene-{seed}-{index}")
    background, crop = background_crop(rng)
    name = rng.choice(OBJECT_NAMES)
    picture = choose_picture(rng, name)
    flip = rng.random() < 0.5
    while True:
        size = rng.randint(*SIZES)
        sprite = scaled_sprite(picture.source, size, flip)
        cx, cy = rng.uniform(0.25, 0.75) * CANVAS, rng.uniform(0.25, 0.75) * CANVAS
        at = (round(cx - sprite.width / 2), round(cy - sprite.height / 2))
        mask, total = visible_mask(sprite, at, CANVAS)
        box = _box(mask)
        if box is not None and mask.sum() >= MIN_VISIBLE * total:
            break
    blur = round(rng.choice((0.0, 0.0, 0.0, rng.uniform(0.3, 1.5))), 2)
    obj = SceneObject(name, picture.source, box, size, at, flip, blur, _tone(rng, 0.25))
    scene_blur = round(rng.choice((0.0, 0.0, 0.0, rng.uniform(0.3, 1.0))), 2)
    return Scene(index, "train", background, crop, (obj,), captions((obj,)), _tone(rng, 0.15), scene_blur)


def with_closeups(base: list[Scene], n: int, seed: int = 0) -> list[Scene]:
    """The base scenes unchanged, then n close-up training scenes numbered after them."""
    start = len(base)
    if [s.id for s in base] != list(range(start)):
        raise ValueError("the base scenes must be numbered 0..n-1 in order")
    return base + [compose_closeup(start + k, seed) for k in range(n)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=Path, default=Path("data/scenes"), help="the set to copy and extend")
    parser.add_argument("--out", type=Path, default=Path("data/scenes-closeup"))
    parser.add_argument("--n", type=int, default=3000, help="number of close-up training scenes to add")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    base = load_scenes(args.scenes)
    scenes = with_closeups(base, args.n, args.seed)
    extra = {"closeups": args.n, "closeup_seed": args.seed}
    write_extended(args.out, args.scenes, scenes, scenes[len(base) : len(base) + 16], extra)
    log.info("wrote %d scenes (%d close-ups) to %s", len(scenes), args.n, args.out)


if __name__ == "__main__":
    main()
