"""Synthetic captioned scenes: colour emoji objects on crops of real photos, rebuilt deterministically.

A toy stand-in for COCO captions (no captioned photos exist offline here), in the spirit of the
"shapes on a canvas" sets used to probe attention (e.g. Johnson et al. 2017, "CLEVR"):

- objects: 24 colour emoji from Debian fonts-noto-color-emoji (NotoColorEmoji.ttf, rendered by
  Pillow at its bitmap size 109), each named by one plain English noun that matches the Unicode
  name (`unicodedata.name`, checked by `check_objects`), visually distinct from each other;
- backgrounds: random crops of the real photos shipped in scikit-image (`skimage.data`) and
  scikit-learn (`load_sample_images`). Photos whose content is one of the object nouns (chelsea
  the cat, the horse silhouette, the flower) are left out so a background never contradicts a caption;
- 1-3 distinct objects per scene at random positions and sizes, never overlapping, placed so that
  every pair has a clear spatial relation (the larger of |dx| and |dy| between box centres is at
  least RELATION_RATIO times the smaller one).

Captions (lower-case words, no punctuation), with R(X, Y) the relation of X to Y
("to the left of", "to the right of", "above", "below"):
  1 object:  "a dog"
  2 objects: "a dog to the left of a car"
  3 objects: "a dog to the left of a car and the car above an apple"
Every valid phrasing (both orders for two objects, all six chains for three) is kept as a
reference and BLEU is scored against all of them. Training uses one canonical phrasing per scene
(`canonical_caption`: relations read "to the left of" / "above" wherever possible), so which
object comes first is decided by the picture, not by a coin the decoder cannot see.

The scene canvas is the model input itself: 224 x 224 px, so DINOv2's 16 x 16 patch grid of
14 px cells lies exactly on it and boxes need no conversion. Boxes are (left, top, right, bottom)
in pixels of the visible (alpha > 0) part of each emoji.

Split: a seeded permutation of the scene indices: 80% train, 10% val, 10% test.

Outputs under --out (default data/scenes/):
  scenes.jsonl    one scene per line: {"id", "split", "background", "crop", "objects": [{"name",
                  "char", "box", "size"}], "caption", "references"}
  previews/       the first 16 scenes as PNG (look at them)
  manifest.json   counts, seed, objects, backgrounds

Scenes are rebuilt from their record by `render_scene` (fast, deterministic), so no pixels are stored.
Run: python -m models.data.scenes --out data/scenes --n 6000 [--seed 0]
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")  # Debian fonts-noto-color-emoji
EMOJI_SIZE = 109  # the only size NotoColorEmoji's bitmaps come in
CANVAS = 224  # scene side in pixels = DINOv2 input side (16 patches of 14 px)
DEFAULT_OUT = Path("data/scenes")
RELATION_RATIO = 1.5  # a pair's dominant axis offset must be >= this many times the other one
MIN_OFFSET = 40  # px between box centres along the dominant axis
GAP = 4  # px between boxes of different objects
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train, val, test

# noun -> (emoji, words that must occur in its Unicode name); one word each, visually distinct
OBJECTS: dict[str, tuple[str, str]] = {
    "dog": ("\U0001f415", "DOG"),
    "cat": ("\U0001f408", "CAT"),
    "horse": ("\U0001f40e", "HORSE"),
    "cow": ("\U0001f404", "COW"),
    "pig": ("\U0001f416", "PIG"),
    "rabbit": ("\U0001f407", "RABBIT"),
    "elephant": ("\U0001f418", "ELEPHANT"),
    "bird": ("\U0001f426", "BIRD"),
    "fish": ("\U0001f41f", "FISH"),
    "turtle": ("\U0001f422", "TURTLE"),
    "car": ("\U0001f697", "AUTOMOBILE"),
    "bus": ("\U0001f68c", "BUS"),
    "bicycle": ("\U0001f6b2", "BICYCLE"),
    "airplane": ("\u2708", "AIRPLANE"),
    "sailboat": ("\u26f5", "SAILBOAT"),
    "apple": ("\U0001f34e", "APPLE"),
    "banana": ("\U0001f34c", "BANANA"),
    "pizza": ("\U0001f355", "PIZZA"),
    "cake": ("\U0001f382", "CAKE"),
    "tree": ("\U0001f333", "TREE"),
    "house": ("\U0001f3e0", "HOUSE"),
    "umbrella": ("\u2602", "UMBRELLA"),
    "key": ("\U0001f511", "KEY"),
    "guitar": ("\U0001f3b8", "GUITAR"),
}
OBJECT_NAMES: tuple[str, ...] = tuple(OBJECTS)

# name -> how to get the photo; none shows a dog, cat, horse, ... (see the module docstring)
BACKGROUNDS: tuple[str, ...] = (
    "astronaut",
    "brick",
    "grass",
    "gravel",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "retina",
    "china",
)
RELATIONS = ("to the left of", "to the right of", "above", "below")
INVERSE = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below", "below": "above"}


@dataclass(frozen=True)
class SceneObject:
    """One pasted emoji: noun, character, visible box (left, top, right, bottom) in px, pasted size in px."""

    name: str
    char: str
    box: tuple[int, int, int, int]
    size: int

    def centre(self) -> tuple[float, float]:
        left, top, right, bottom = self.box
        return (left + right) / 2, (top + bottom) / 2


@dataclass(frozen=True)
class Scene:
    """A scene record: enough to rebuild the pixels with `render_scene`.

    crop: (left, top, side) of the square background crop in the photo's pixels.
    references: every valid caption; caption is references[0].
    """

    id: int
    split: str
    background: str
    crop: tuple[int, int, int]
    objects: tuple[SceneObject, ...]
    references: tuple[str, ...]

    @property
    def caption(self) -> str:
        return self.references[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "split": self.split,
            "background": self.background,
            "crop": list(self.crop),
            "objects": [{"name": o.name, "char": o.char, "box": list(o.box), "size": o.size} for o in self.objects],
            "caption": self.caption,
            "references": list(self.references),
        }

    @staticmethod
    def from_json(row: dict[str, Any]) -> Scene:
        objects = tuple(
            SceneObject(o["name"], o["char"], (o["box"][0], o["box"][1], o["box"][2], o["box"][3]), o["size"])
            for o in row["objects"]
        )
        crop = row["crop"]
        return Scene(row["id"], row["split"], row["background"], (crop[0], crop[1], crop[2]), objects,
                     tuple(row["references"]))


def check_objects() -> None:
    """ValueError when a noun does not match its emoji's Unicode name (keeps the names truthful)."""
    for noun, (char, word) in OBJECTS.items():
        name = unicodedata.name(char)
        if word not in name.split():
            raise ValueError(f"{noun!r}: {char!r} is {name!r}, which does not contain {word!r}")


@functools.cache
def background_photo(name: str) -> np.ndarray:
    """(height, width, 3) uint8 RGB photo shipped with scikit-image / scikit-learn (no download)."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        photo = load_sample_image(f"{name}.jpg")
    else:
        import skimage.data

        photo = getattr(skimage.data, name)()
    if photo.ndim == 2:
        photo = np.stack([photo] * 3, axis=-1)  # (height, width, 3)
    return np.ascontiguousarray(photo[..., :3])


@functools.cache
def emoji_image(char: str) -> Image.Image:
    """The emoji as RGBA, cropped to its visible pixels (NotoColorEmoji bitmap, ~136 x 128 before the crop)."""
    font = ImageFont.truetype(str(EMOJI_FONT), EMOJI_SIZE)
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((8, 8), char, font=font, embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    if box is None:
        raise ValueError(f"{char!r} ({unicodedata.name(char)}) renders as nothing with {EMOJI_FONT}")
    return canvas.crop(box)


def sized_emoji(char: str, size: int) -> Image.Image:
    """The emoji scaled so its longer side is `size` px (Lanczos), RGBA."""
    img = emoji_image(char)
    scale = size / max(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)


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


def _place(rng: random.Random, names: list[str]) -> tuple[SceneObject, ...] | None:
    """Random non-overlapping placement with clear pairwise relations, or None after many tries."""
    big = len(names) == 1
    for _ in range(300):
        placed: list[SceneObject] = []
        for name in names:
            char = OBJECTS[name][0]
            size = rng.randint(64, 112) if big else rng.randint(48, 84)
            w, h = sized_emoji(char, size).size
            left, top = rng.randint(0, CANVAS - w), rng.randint(0, CANVAS - h)
            obj = SceneObject(name, char, (left, top, left + w, top + h), size)
            if any(_overlap(obj.box, other.box) or not clear_relation(obj, other) for other in placed):
                break
            placed.append(obj)
        if len(placed) == len(names):
            return tuple(placed)
    return None


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return not (a[2] + GAP <= b[0] or b[2] + GAP <= a[0] or a[3] + GAP <= b[1] or b[3] + GAP <= a[1])


def compose(index: int, seed: int = 0, split: str = "train") -> Scene:
    """Scene `index` of the set made with `seed`: the same arguments always give the same scene."""
    rng = random.Random(f"scene-{seed}-{index}")
    background = rng.choice(BACKGROUNDS)
    photo = background_photo(background)
    height, width = photo.shape[:2]
    side = rng.randint(min(height, width) // 3, min(height, width))
    crop = (rng.randint(0, width - side), rng.randint(0, height - side), side)
    count = rng.choices((1, 2, 3), weights=(0.2, 0.4, 0.4))[0]
    while True:
        names = rng.sample(OBJECT_NAMES, count)
        objects = _place(rng, names)
        if objects is not None:
            break
    return Scene(index, split, background, crop, objects, captions(objects))


def render_scene(scene: Scene) -> Image.Image:
    """The scene's pixels: 224 x 224 RGB."""
    photo = background_photo(scene.background)
    left, top, side = scene.crop
    img = Image.fromarray(photo[top : top + side, left : left + side]).resize(
        (CANVAS, CANVAS), Image.Resampling.BICUBIC
    )
    for obj in scene.objects:
        sprite = sized_emoji(obj.char, obj.size)
        img.paste(sprite, obj.box[:2], sprite)
    return img


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
    check_objects()
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    scenes = build(args.n, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "scenes.jsonl", "w", encoding="utf-8") as f:
        for scene in scenes:
            f.write(json.dumps(scene.to_json()) + "\n")
    (args.out / "previews").mkdir(exist_ok=True)
    for scene in scenes[:16]:
        render_scene(scene).save(args.out / "previews" / f"{scene.id:05d}.png")
    counts = {s: sum(sc.split == s for sc in scenes) for s in ("train", "val", "test")}
    manifest = {
        "n": args.n,
        "seed": args.seed,
        "splits": counts,
        "objects": {k: {"char": v[0], "unicode_name": unicodedata.name(v[0])} for k, v in OBJECTS.items()},
        "backgrounds": list(BACKGROUNDS),
        "objects_per_scene": {str(c): sum(len(s.objects) == c for s in scenes) for c in (1, 2, 3)},
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    log.info("wrote %d scenes to %s: %s", len(scenes), args.out, counts)


if __name__ == "__main__":
    main()
