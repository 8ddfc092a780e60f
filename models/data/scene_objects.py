"""What the composed captioning scenes are made of: named object pictures and object-free backgrounds.

Objects (models/data/scenes.py pastes one to three of them on a background), listed in scene_objects.json:
- Tux Paint stamps (Debian `tuxpaint-stamps-default`, GPL-2): mostly real-photo cut-outs with
  transparency (kind "photo"), a few drawings (kind "drawing"). Each stamp was looked at and given the
  plain noun a person would use for it (a mallard is a "duck", a gnu an "antelope", a fireman in a
  protective suit a "person"); stamps that no everyday noun names were left out.
- Colour emoji (Debian `fonts-noto-color-emoji`, OFL-1.1) for breadth: one emoji per noun.
The vocabulary is the union of both lists. A noun that has photo stamps is drawn from a photo
PHOTO_SHARE of the time, otherwise from its other pictures.

Backgrounds (BACKGROUNDS): real photos that show no object of the vocabulary (grass, water, dunes, sky,
wood, brick, gravel), from Debian `mate-backgrounds` (GPL-2+) and `gnome-backgrounds` (CC-BY-SA-3.0) and
from scikit-image. No photo of the real-photo evaluation (models/data/real_photos.py) is among them.
"""

from __future__ import annotations

import functools
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

log = logging.getLogger(__name__)

TABLE = Path(__file__).with_name("scene_objects.json")
TUX_STAMPS = Path("/usr/share/tuxpaint/stamps")  # Debian tuxpaint-stamps-default
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")  # Debian fonts-noto-color-emoji
EMOJI_SIZE = 109  # the only size NotoColorEmoji's bitmaps come in
PHOTO_SHARE = 0.7
BACKGROUND_DIRS = {"mate": Path("/usr/share/backgrounds/mate"), "gnome": Path("/usr/share/backgrounds/gnome")}

# name -> where: "skimage:<function>" or "<package dir key>:<file>"
BACKGROUNDS: dict[str, str] = {
    "aqua": "mate:nature/Aqua.jpg",
    "blinds": "mate:nature/Blinds.jpg",
    "dune": "mate:nature/Dune.jpg",
    "meadow": "mate:nature/GreenMeadow.jpg",
    "raindrops": "mate:nature/RainDrops.jpg",
    "storm": "mate:nature/Storm.jpg",
    "boards": "mate:nature/Wood.jpg",
    "wood-dark": "gnome:wood-d.webp",
    "wood-light": "gnome:wood-l.webp",
    "brick": "skimage:brick",
    "grass": "skimage:grass",
    "gravel": "skimage:gravel",
    "deep-field": "skimage:hubble_deep_field",
    "tissue": "skimage:immunohistochemistry",
}


Tone = tuple[float, float, float]  # brightness, contrast, colour saturation factors (1 = unchanged)


@dataclass(frozen=True)
class Picture:
    """One picture of a noun: source "tux:<stamp file>" or "emoji:<character>"; kind photo | drawing | emoji."""

    noun: str
    source: str
    kind: str


@functools.cache
def pictures() -> dict[str, tuple[Picture, ...]]:
    """noun -> its pictures, nouns sorted, stamps before the emoji."""
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    found: dict[str, list[Picture]] = {}
    for file, noun, kind in table["stamps"]:
        found.setdefault(noun, []).append(Picture(noun, f"tux:{file}", kind))
    for noun, char in table["emoji"].items():
        found.setdefault(noun, []).append(Picture(noun, f"emoji:{char}", "emoji"))
    return {noun: tuple(found[noun]) for noun in sorted(found)}


def vocabulary() -> tuple[str, ...]:
    """Every object noun of the scenes, sorted."""
    return tuple(pictures())


def photo_nouns() -> tuple[str, ...]:
    """The nouns that have at least one real-photo cut-out."""
    return tuple(n for n, pics in pictures().items() if any(p.kind == "photo" for p in pics))


def choose_picture(rng: random.Random, noun: str) -> Picture:
    """A photo of the noun PHOTO_SHARE of the time when it has one, otherwise any other picture of it."""
    pics = pictures()[noun]
    photos = [p for p in pics if p.kind == "photo"]
    others = [p for p in pics if p.kind != "photo"]
    if photos and (not others or rng.random() < PHOTO_SHARE):
        return rng.choice(photos)
    return rng.choice(others)


@functools.cache
def sprite(source: str) -> Image.Image:
    """The picture as RGBA cropped to its visible pixels (alpha > 0)."""
    kind, _, ref = source.partition(":")
    if kind == "emoji":
        font = ImageFont.truetype(str(EMOJI_FONT), EMOJI_SIZE)
        canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text((8, 8), ref, font=font, embedded_color=True)
    elif kind == "tux":
        with Image.open(TUX_STAMPS / ref) as img:
            canvas = img.convert("RGBA")
    else:
        raise ValueError(f"unknown picture source {source!r}")
    alpha = np.array(canvas.getchannel("A"))
    canvas.putalpha(Image.fromarray(np.where(alpha > 24, alpha, 0).astype(np.uint8)))  # drop faint halos
    box = canvas.getchannel("A").getbbox()
    if box is None:
        raise ValueError(f"{source!r} shows nothing")
    return canvas.crop(box)


@functools.lru_cache(maxsize=4096)
def scaled_sprite(source: str, size: int, flip: bool) -> Image.Image:
    """The picture scaled so its longer side is `size` px (Lanczos), mirrored when asked; RGBA."""
    img = sprite(source)
    scale = size / max(img.size)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else img


def visible_mask(picture: Image.Image, at: tuple[int, int], canvas: int) -> tuple[np.ndarray, int]:
    """(canvas, canvas) bool of the picture's opaque pixels inside a square canvas when pasted with its top-left
    corner at `at` (either coordinate may be negative), and the number of its opaque pixels in all."""
    alpha = np.asarray(picture.getchannel("A")) > 0
    mask = np.zeros((canvas, canvas), dtype=bool)
    x, y = at
    h, w = alpha.shape
    left, top, right, bottom = max(0, x), max(0, y), min(canvas, x + w), min(canvas, y + h)
    if left < right and top < bottom:
        mask[top:bottom, left:right] = alpha[top - y : bottom - y, left - x : right - x]
    return mask, int(alpha.sum())


def styled_sprite(source: str, size: int, flip: bool, blur: float, tone: Tone) -> Image.Image:
    """The picture scaled so its longer side is `size` px, mirrored, blurred and toned as recorded."""
    img = scaled_sprite(source, size, flip)
    alpha = img.getchannel("A")
    rgb = toned(img.convert("RGB"), tone)
    if blur > 0:
        rgb = rgb.filter(ImageFilter.GaussianBlur(blur))
    rgb.putalpha(alpha)
    return rgb


def toned(img: Image.Image, tone: Tone) -> Image.Image:
    brightness, contrast, colour = tone
    img = ImageEnhance.Brightness(img).enhance(brightness)
    img = ImageEnhance.Contrast(img).enhance(contrast)
    return ImageEnhance.Color(img).enhance(colour)


@functools.cache
def background_photo(name: str) -> np.ndarray:
    """(height, width, 3) uint8 RGB, at most 1024 px on the longer side."""
    where, _, ref = BACKGROUNDS[name].partition(":")
    if where == "skimage":
        import skimage.data

        photo = np.asarray(getattr(skimage.data, ref)())
        img = Image.fromarray(photo if photo.ndim == 3 else np.stack([photo] * 3, axis=-1)).convert("RGB")
    else:
        with Image.open(BACKGROUND_DIRS[where] / ref) as opened:
            img = opened.convert("RGB")
    img.thumbnail((1024, 1024), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(img)[..., :3])


def background_crop(rng: random.Random) -> tuple[str, tuple[int, int, int]]:
    """A background photo's name and a random square crop of it: (left, top, side) in the photo's pixels."""
    background = rng.choice(sorted(BACKGROUNDS))
    height, width = background_photo(background).shape[:2]
    side = rng.randint(min(height, width) // 4, min(height, width))
    return background, (rng.randint(0, width - side), rng.randint(0, height - side), side)


def missing_sources() -> list[str]:
    """Files the scenes need that are not installed (empty when `make data` has run)."""
    missing = [str(TUX_STAMPS)] if not TUX_STAMPS.is_dir() else []
    missing += [str(EMOJI_FONT)] if not EMOJI_FONT.is_file() else []
    for where, _, ref in (v.partition(":") for v in BACKGROUNDS.values()):
        if where in BACKGROUND_DIRS and not (BACKGROUND_DIRS[where] / ref).is_file():
            missing.append(str(BACKGROUND_DIRS[where] / ref))
    return missing
