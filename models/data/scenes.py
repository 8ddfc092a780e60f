"""Composed captioned scenes that look like the world: real-photo cut-outs on real photos, rebuilt deterministically.

A stand-in for COCO captions (no captioned photos exist offline here), in the spirit of the
"objects on a canvas" sets used to probe attention (e.g. Johnson et al. 2017, "CLEVR"):

- objects: pictures of 235 nouns (models/data/scene_objects.py): Tux Paint real-photo cut-outs
  (141 nouns), a few Tux Paint drawings, and colour emoji for breadth; a noun that has a photo
  cut-out is shown as one 70% of the time;
- backgrounds: random crops (scale, position) of real photos that show none of the nouns;
- 1-3 distinct objects per scene at random positions and sizes (28-190 px on the longer side), flipped
  at random, each with its own brightness / contrast / colour jitter and sometimes blurred; an object may
  partly cover an earlier one (at most MAX_COVER of the earlier one's box), and every pair has a clear
  spatial relation (the larger of |dx| and |dy| between box centres is at least RELATION_RATIO times the
  smaller one); the whole scene then gets a lighting jitter and sometimes a blur.

Captions (lower-case words, no punctuation), with R(X, Y) the relation of X to Y
("to the left of", "to the right of", "above", "below"):
  1 object:  "a dog"
  2 objects: "a dog to the left of a car"
  3 objects: "a dog to the left of a car and the car above an apple"
Every valid phrasing (both orders for two objects, all six chains for three) is kept as a
reference and BLEU is scored against all of them. Training uses one canonical phrasing per scene
(`canonical_caption`: relations read "to the left of" / "above" wherever possible), so which
object comes first is decided by the picture, not by a coin the decoder cannot see.

The scene canvas is the model input itself: 224 x 224 px (DINOv2's 16 x 16 grid of 14 px patches,
EfficientNet-Lite0's 7 x 7 grid of 32 px cells), so boxes need no conversion. Boxes are (left, top,
right, bottom) in pixels of the part of each object still visible after later objects are pasted.

Split: a seeded permutation of the scene indices: 80% train, 10% val, 10% test.

Outputs under --out (default data/scenes/):
  scenes.jsonl    one scene per line (Scene.to_json)
  previews/       the first 16 scenes as PNG (look at them)
  manifest.json   counts, seed, nouns and their pictures, backgrounds

Scenes are rebuilt from their record by `render_scene` (deterministic), so no pixels are stored.
Run: python -m models.data.scenes --out data/scenes --n 6000 [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from models.data import gcompris_photos
from models.data.scene_objects import (
    BACKGROUNDS,
    Tone,
    background_crop,
    background_photo,
    choose_picture,
    missing_sources,
    pictures,
    scaled_sprite,
    styled_sprite,
    toned,
    visible_mask,
    vocabulary,
)

log = logging.getLogger(__name__)

CANVAS = 224  # scene side in pixels = the model input side
DEFAULT_OUT = Path("data/scenes")
RELATION_RATIO = 1.5  # a pair's dominant axis offset must be >= this many times the other one
MIN_OFFSET = 40  # px between box centres along the dominant axis
MAX_COVER = 0.25  # at most this share of an earlier object's box may be covered by a later one
MIN_VISIBLE = 0.6  # and at least this share of its own pixels must stay visible
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train, val, test
OBJECT_NAMES: tuple[str, ...] = vocabulary()
RELATIONS = ("to the left of", "to the right of", "above", "below")
INVERSE = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below", "below": "above"}


@dataclass(frozen=True)
class SceneObject:
    """One pasted picture: noun, picture source (scene_objects.Picture.source), visible box (left, top,
    right, bottom) in px, size (longer side in px), where its top-left corner was pasted, mirrored or not,
    Gaussian blur radius and tone."""

    name: str
    source: str
    box: tuple[int, int, int, int]
    size: int
    at: tuple[int, int]
    flip: bool
    blur: float
    tone: Tone

    def centre(self) -> tuple[float, float]:
        left, top, right, bottom = self.box
        return (left + right) / 2, (top + bottom) / 2

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "box": list(self.box),
            "size": self.size,
            "at": list(self.at),
            "flip": self.flip,
            "blur": self.blur,
            "tone": list(self.tone),
        }

    @staticmethod
    def from_json(o: dict[str, Any]) -> SceneObject:
        b, a, t = o["box"], o["at"], o["tone"]
        return SceneObject(
            o["name"],
            o["source"],
            (b[0], b[1], b[2], b[3]),
            o["size"],
            (a[0], a[1]),
            o["flip"],
            o["blur"],
            (t[0], t[1], t[2]),
        )


@dataclass(frozen=True)
class Scene:
    """A scene record: enough to rebuild the pixels with `render_scene`.

    crop: (left, top, side) of the square background crop in the photo's pixels; tone and blur: applied
    to the whole scene last. references: every valid caption; caption is references[0] (sorted order).
    """

    id: int
    split: str
    background: str
    crop: tuple[int, int, int]
    objects: tuple[SceneObject, ...]
    references: tuple[str, ...]
    tone: Tone = (1.0, 1.0, 1.0)
    blur: float = 0.0

    @property
    def caption(self) -> str:
        return self.references[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "split": self.split,
            "background": self.background,
            "crop": list(self.crop),
            "tone": list(self.tone),
            "blur": self.blur,
            "objects": [o.to_json() for o in self.objects],
            "caption": self.caption,
            "references": list(self.references),
        }

    @staticmethod
    def from_json(row: dict[str, Any]) -> Scene:
        c, t = row["crop"], row["tone"]
        objects = tuple(SceneObject.from_json(o) for o in row["objects"])
        return Scene(
            row["id"],
            row["split"],
            row["background"],
            (c[0], c[1], c[2]),
            objects,
            tuple(row["references"]),
            (t[0], t[1], t[2]),
            row["blur"],
        )


def relation(a: SceneObject, b: SceneObject) -> str:
    """Where a is relative to b, by the dominant axis between box centres (image y grows downwards)."""
    (ax, ay), (bx, by) = a.centre(), b.centre()
    dx, dy = ax - bx, ay - by
    if abs(dx) >= abs(dy):
        return "to the left of" if dx < 0 else "to the right of"
    return "above" if dy < 0 else "below"


BACKWARD_RELATIONS = (" to the right of ", " below ")


def canonical_caption(references: tuple[str, ...]) -> str:
    """The phrasing with the fewest "to the right of" / "below" relations (first in sorted order on a tie).

    For two objects this always names the left (or upper) one first. Sampling among all phrasings
    instead leaves the first noun a coin toss: a decoder then spreads its attention over every object
    it might name and the word's map no longer shows the object the word names."""
    return min(references, key=lambda r: (sum(r.count(b) for b in BACKWARD_RELATIONS), r))


def clear_relation(a: SceneObject, b: SceneObject) -> bool:
    (ax, ay), (bx, by) = a.centre(), b.centre()
    dx, dy = abs(ax - bx), abs(ay - by)
    return max(dx, dy) >= MIN_OFFSET and max(dx, dy) >= RELATION_RATIO * min(dx, dy)


def article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


def captions(objects: tuple[SceneObject, ...]) -> tuple[str, ...]:
    """Every valid caption of the scene (see the module docstring), sorted."""
    if len(objects) == 1:
        return (f"{article(objects[0].name)} {objects[0].name}",)
    found = set()
    if len(objects) == 2:
        for a, b in ((objects[0], objects[1]), (objects[1], objects[0])):
            found.add(f"{article(a.name)} {a.name} {relation(a, b)} {article(b.name)} {b.name}")
    else:
        for i, j, k in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
            a, b, c = objects[i], objects[j], objects[k]
            found.add(
                f"{article(a.name)} {a.name} {relation(a, b)} {article(b.name)} {b.name} "
                f"and the {b.name} {relation(b, c)} {article(c.name)} {c.name}"
            )
    return tuple(sorted(found))


def _mask(obj: SceneObject) -> np.ndarray:
    """(CANVAS, CANVAS) bool: the object's opaque pixels on the canvas."""
    return visible_mask(scaled_sprite(obj.source, obj.size, obj.flip), obj.at, CANVAS)[0]


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _tone(rng: random.Random, spread: float) -> Tone:
    return tuple(round(rng.uniform(1 - spread, 1 + spread), 3) for _ in range(3))  # type: ignore[return-value]


def _place(rng: random.Random, names: list[str]) -> tuple[SceneObject, ...] | None:
    """Random placement (partial cover allowed, see the module docstring), or None after many tries."""
    lo, hi = (72, 190) if len(names) == 1 else (44, 120) if len(names) == 2 else (36, 96)
    for _ in range(200):
        placed: list[SceneObject] = []
        masks: list[np.ndarray] = []
        for name in names:
            picture = choose_picture(rng, name)
            size = rng.randint(lo, hi)
            w, h = scaled_sprite(picture.source, size, False).size
            at = (rng.randint(0, CANVAS - w), rng.randint(0, CANVAS - h))
            blur = round(rng.choice((0.0, 0.0, 0.0, rng.uniform(0.3, 1.5))), 2)
            obj = SceneObject(
                name,
                picture.source,
                (at[0], at[1], at[0] + w, at[1] + h),
                size,
                at,
                rng.random() < 0.5,
                blur,
                _tone(rng, 0.25),
            )
            mask = _mask(obj)
            covered = [(m & mask).sum() / max(1, m.sum()) for m in masks]
            if any(c > MAX_COVER for c in covered):
                break
            placed.append(obj)
            masks.append(mask)
        else:
            visible = []
            for i, obj in enumerate(placed):
                seen = masks[i] & ~np.logical_or.reduce(masks[i + 1 :]) if i + 1 < len(masks) else masks[i]
                box = _box(seen)
                if box is None or seen.sum() < MIN_VISIBLE * masks[i].sum():
                    break
                visible.append(SceneObject(obj.name, obj.source, box, obj.size, obj.at, obj.flip, obj.blur, obj.tone))
            else:
                if all(clear_relation(a, b) for i, a in enumerate(visible) for b in visible[i + 1 :]):
                    return tuple(visible)
    return None


def compose(index: int, seed: int = 0, split: str = "train") -> Scene:
    """Scene `index` of the set made with `seed`: the same arguments always give the same scene."""
    rng = random.Random(f"world-scene-{seed}-{index}")
    background, crop = background_crop(rng)
    count = rng.choices((1, 2, 3), weights=(0.3, 0.4, 0.3))[0]
    while True:
        names = rng.sample(OBJECT_NAMES, count)
        objects = _place(rng, names)
        if objects is not None:
            break
    blur = round(rng.choice((0.0, 0.0, 0.0, rng.uniform(0.3, 1.0))), 2)
    return Scene(index, split, background, crop, objects, captions(objects), _tone(rng, 0.15), blur)


def render_scene(scene: Scene) -> Image.Image:
    """The scene's pixels: 224 x 224 RGB. A photo scene (models/data/photo_scenes.py) is a crop of a labelled
    photo, mirrored with its object, and has nothing pasted."""
    photo_scene = scene.background.startswith("photo:")
    if photo_scene:
        photo = gcompris_photos.photo_pixels(scene.background.removeprefix("photo:"))
    else:
        photo = background_photo(scene.background)
    left, top, side = scene.crop
    img = Image.fromarray(photo[top : top + side, left : left + side]).resize(
        (CANVAS, CANVAS), Image.Resampling.BICUBIC
    )
    if photo_scene and scene.objects[0].flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for obj in scene.objects if not photo_scene else ():
        pasted = styled_sprite(obj.source, obj.size, obj.flip, obj.blur, obj.tone)
        img.paste(pasted, obj.at, pasted)
    img = toned(img, scene.tone)
    return img.filter(ImageFilter.GaussianBlur(scene.blur)) if scene.blur > 0 else img


def scene_png(scene: Scene) -> bytes:
    """The rendered scene as PNG bytes (what a user would upload)."""
    buffer = io.BytesIO()
    render_scene(scene).save(buffer, format="PNG")
    return buffer.getvalue()


def splits(n: int, seed: int = 0) -> list[str]:
    """Split name of every scene index: a seeded permutation, 80% train, 10% val, 10% test."""
    order = list(range(n))
    random.Random(f"split-{seed}").shuffle(order)
    n_train, n_val = round(n * SPLIT_FRACTIONS[0]), round(n * SPLIT_FRACTIONS[1])
    names = [""] * n
    for rank, index in enumerate(order):
        names[index] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return names


def build(n: int, seed: int = 0) -> list[Scene]:
    """All n scenes of the set made with `seed`."""
    missing = missing_sources()
    if missing:
        raise SystemExit(f"missing scene sources (run make data): {', '.join(missing)}")
    return [compose(i, seed, split) for i, split in enumerate(splits(n, seed))]


def load_scenes(folder: Path, split: str | None = None) -> list[Scene]:
    """Scenes from a folder written by `main`, optionally only one split."""
    with open(folder / "scenes.jsonl", encoding="utf-8") as f:
        scenes = [Scene.from_json(json.loads(line)) for line in f]
    return [s for s in scenes if split is None or s.split == split]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--n", type=int, default=6000, help="number of scenes")
    parser.add_argument("--seed", type=int, default=0)
    extra = "this many more training scenes after the n (ids n, n+1, ...); the n and their splits stay the same"
    parser.add_argument("--extra-train", type=int, default=0, help=extra)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from tqdm import tqdm

    missing = missing_sources()
    if missing:
        raise SystemExit(f"missing scene sources (run make data): {', '.join(missing)}")
    names = splits(args.n, args.seed) + ["train"] * args.extra_train
    scenes = [compose(i, args.seed, names[i]) for i in tqdm(range(len(names)), desc="scenes", unit="scene")]
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "scenes.jsonl", "w", encoding="utf-8") as f:
        for scene in scenes:
            f.write(json.dumps(scene.to_json(), ensure_ascii=False) + "\n")
    (args.out / "previews").mkdir(exist_ok=True)
    for scene in scenes[:16]:
        render_scene(scene).save(args.out / "previews" / f"{scene.id:05d}.png")
    counts = {s: sum(sc.split == s for sc in scenes) for s in ("train", "val", "test")}
    kinds = Counter(next(p.kind for p in pictures()[o.name] if p.source == o.source) for s in scenes for o in s.objects)
    manifest = {
        "n": args.n,
        **({"extra_train": args.extra_train} if args.extra_train else {}),
        "seed": args.seed,
        "splits": counts,
        "nouns": len(OBJECT_NAMES),
        "pictures": {n: [p.source for p in pics] for n, pics in pictures().items()},
        "objects_by_kind": dict(sorted(kinds.items())),
        "backgrounds": BACKGROUNDS,
        "objects_per_scene": {str(c): sum(len(s.objects) == c for s in scenes) for c in (1, 2, 3)},
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    log.info("wrote %d scenes to %s: %s", len(scenes), args.out, counts)


if __name__ == "__main__":
    main()
