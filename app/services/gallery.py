"""The image page's sample gallery: real photos and held-out composed scenes, each with what a captioner should find.

- PACKAGE_PHOTOS: photos shipped inside scikit-image and scikit-learn, found without importing the package, named
  as the real-photo table names them where it lists them;
- the other evaluation photos of the real-photo table (models/data/real_photos.py) whose files are on disk (after
  `python -m models.data.real_photos`); never its dev or background photos;
- SCENES_PER_COUNT scenes of data/scenes' held-out test split per object count (1, 2, 3), rendered on demand by
  the scene builder (models.data.scenes.scene_png, imported with the first scene).
Which ones are offered is the choice written to reports/gallery.json (models/evaluate/gallery.py): the photos
whose main object the best captioner names (or that is outside its vocabulary) and the scenes whose every object
it names. The photos it misses stay reachable by name (the /eval page links each one) but are not offered. Without
that report, or for a scene set other than the one it was made on, every photo is offered and the lowest-id
scenes are shown.
Photos are served as their files' own bytes (what the evaluation captioned: a re-encoded JPEG changes some
captions), scenes as PNG; each image is encoded once and kept in memory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the scene builder loads numpy and Pillow: imported on the first scene
    from models.data.scenes import Scene

log = logging.getLogger(__name__)

SCENES_PER_COUNT = 2  # test scenes shown per object count: 2 x (1, 2, 3 objects) = 6
JPEG_QUALITY = 90
MAX_SIDE = 2048  # a photo file over MAX_BYTES is served as a JPEG scaled down to this (the models see 224 px)
MAX_BYTES = 8 * 1024 * 1024  # photo files up to this size are served byte for byte (the upload limit is 10 MB)
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass(frozen=True)
class Sample:
    """A photo shipped in an installed package."""

    title: str  # shown on the button
    package: str  # top-level package that ships the file (found without importing it)
    path: str  # file inside that package
    source: str  # where it comes from, for people
    license: str  # as the package states it
    expect: tuple[str, ...] = ()  # the main object's name: what a captioner should find
    synonyms: tuple[str, ...] = ()  # other words that name it


PACKAGE_PHOTOS: dict[str, Sample] = {
    "chelsea": Sample("Chelsea the cat", "skimage", "data/chelsea.png", "scikit-image skimage.data.chelsea",
                      "CC0 (Stefan van der Walt)", ("cat",), ("kitten", "kitty")),
    "astronaut": Sample("Astronaut Eileen Collins", "skimage", "data/astronaut.png",
                        "scikit-image skimage.data.astronaut (NASA)", "Public domain", ("woman",),
                        ("person", "lady", "people", "astronaut")),
    "coffee": Sample("Cup of coffee", "skimage", "data/coffee.png", "scikit-image skimage.data.coffee",
                     "CC0 (Rachel Michetti)", ("cup",), ("coffee", "mug", "espresso")),
    "rocket": Sample("Falcon 9 launch", "skimage", "data/rocket.jpg", "scikit-image skimage.data.rocket (SpaceX)",
                     "Public domain", ("rocket",), ("missile", "spaceship")),
    "motorcycle": Sample("Motorcycle", "skimage", "data/motorcycle_left.png",
                         "scikit-image skimage.data.stereo_motorcycle (Middlebury 2014 stereo)",
                         "Middlebury stereo benchmark, free for research", ("motorcycle",),
                         ("motorbike", "moped", "scooter")),
    "china": Sample("Summer palace, China", "sklearn", "datasets/images/china.jpg",
                    "scikit-learn load_sample_images (danielbuechele on Flickr)", "CC BY 2.0", ("building",),
                    ("palace", "temple", "pagoda", "house")),
    "flower": Sample("Flower", "sklearn", "datasets/images/flower.jpg",
                     "scikit-learn load_sample_images (vultilion on Flickr)", "CC BY 2.0", ("flower",)),
}


@dataclass(frozen=True)
class GalleryItem:
    """One entry of GET /api/samples and the way to its pixels."""

    name: str  # GET /api/samples/{name}
    title: str
    kind: Literal["photo", "scene"]
    expect: tuple[str, ...]  # what a captioner should find (a photo's main object, every object of a scene)
    synonyms: tuple[str, ...]  # other words that count as naming one of them
    source: str
    license: str
    media_type: str  # image/jpeg or image/png
    encode: Callable[[], bytes]  # the image's bytes (encoded once: `image_bytes`)
    offered: bool = True  # shown in the gallery; False: a photo the best captioner misses (reachable by name)
    note: str = ""  # why a photo is not offered


@dataclass(frozen=True)
class Choice:
    """reports/gallery.json, read: what the gallery offers."""

    captioner: str  # the best captioner on the evaluation photos
    missed: dict[str, str]  # photo id -> its caption, for the in-vocabulary photos that caption misses
    scenes: tuple[int, ...]  # offered test scenes, in order
    scenes_sha256: str  # of the scenes.jsonl they were chosen from


def read_choice(path: Path) -> Choice | None:
    """The gallery choice in `path`, or None where it is absent or cannot be read."""
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        return Choice(
            captioner=str(report["captioner"]),
            missed={str(r["id"]): str(r["caption"]) for r in report["photos"] if not r["offered"]},
            scenes=tuple(int(i) for i in report["scenes"]["offered"]),
            scenes_sha256=str(report["scenes"]["sha256"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("the gallery offers every sample: %s cannot be read (%s)", path, err)
        return None


def sample_path(sample: Sample) -> Path | None:
    """The file on disk, or None when its package is not installed."""
    spec = importlib.util.find_spec(sample.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / sample.path
    return path if path.is_file() else None


def photo_file(path: Path) -> tuple[str, Callable[[], bytes]]:
    """A photo's media type and the way to its bytes: the file itself when it is a PNG or JPEG of at most
    MAX_BYTES, else a JPEG at most MAX_SIDE px on its longer side."""
    media_type = MEDIA_TYPES.get(path.suffix.lower())
    try:
        small = path.stat().st_size <= MAX_BYTES
    except OSError:
        small = False
    if media_type and small:
        return media_type, path.read_bytes
    return "image/jpeg", partial(real_photo_jpeg, path)


def jpeg_of(path: Path) -> bytes:
    """An image file as an RGB JPEG; FileNotFoundError when it is gone."""
    from PIL import Image

    with Image.open(path) as img:
        buffer = io.BytesIO()
        img.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


@lru_cache(maxsize=len(PACKAGE_PHOTOS))
def sample_jpeg(name: str) -> bytes:
    """A package photo as an RGB JPEG, encoded once in memory; FileNotFoundError when not installed."""
    path = sample_path(PACKAGE_PHOTOS[name])
    if path is None:
        raise FileNotFoundError(name)
    return jpeg_of(path)


def chosen_scenes(scenes: list[Scene]) -> list[Scene]:
    """The gallery's scenes: per object count, the SCENES_PER_COUNT scenes with the lowest ids (a fixed rule,
    so every machine that built data/scenes with the same seed shows the same ones)."""
    by_count: dict[int, list[Scene]] = {}
    for scene in sorted(scenes, key=lambda s: s.id):
        chosen = by_count.setdefault(len(scene.objects), [])
        if len(chosen) < SCENES_PER_COUNT:
            chosen.append(scene)
    return [scene for count in sorted(by_count) for scene in by_count[count]]


def _in_caption_order(names: list[str], caption: str) -> tuple[str, ...]:
    words = caption.split()
    return tuple(sorted(dict.fromkeys(names), key=lambda n: words.index(n) if n in words else len(words)))


def _scene_items(folder: Path, choice: Choice | None) -> list[GalleryItem]:
    from models.data.scenes import load_scenes, scene_png

    path = folder / "scenes.jsonl"
    if not path.is_file():
        return []
    try:
        test = load_scenes(folder, "test")
        if choice is not None and hashlib.sha256(path.read_bytes()).hexdigest() == choice.scenes_sha256:
            by_id = {scene.id: scene for scene in test}
            scenes = [by_id[i] for i in choice.scenes if i in by_id]
        else:
            if choice is not None:
                log.info("gallery: %s is not the scene set reports/gallery.json chose from; lowest ids shown", path)
            scenes = chosen_scenes(test)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:  # a half-written or older file
        log.warning("no composed scenes in the gallery: %s cannot be read (%s)", folder, err)
        return []
    return [
        GalleryItem(
            name=f"scene-{scene.id}",
            title=f"Test scene {scene.id}",
            kind="scene",
            expect=_in_caption_order([o.name for o in scene.objects], scene.caption),
            synonyms=(),
            source=f"held-out test scene {scene.id} of {folder.name}/ (models/data/scenes.py): never trained on",
            license="composed here from package images (see models/data/scenes.py)",
            media_type="image/png",
            encode=partial(scene_png, scene),
        )
        for scene in scenes
    ]


def _offer(item: GalleryItem, choice: Choice | None) -> GalleryItem:
    """The item, marked not offered where the gallery choice says the best captioner misses it."""
    if choice is None or item.name not in choice.missed:
        return item
    caption = choice.missed[item.name] or "(no caption)"
    note = f"Not in the gallery: {choice.captioner} misses it in the evaluation (it says \u201c{caption}\u201d)."
    return replace(item, offered=False, note=note)


def _package_items() -> list[GalleryItem]:
    """The package photos; where the real-photo table lists one (by id), its main object's name and words."""
    table = {p.id: p.main for p in _table("eval") if p.objects}
    items = []
    for name, s in PACKAGE_PHOTOS.items():
        main = table.get(name)
        expect, synonyms = s.expect, s.synonyms
        if main is not None:
            expect, synonyms = (main.name,), tuple(w for w in main.synonyms if w != main.name)
        path = sample_path(s)
        if path is None:
            continue
        media_type, encode = photo_file(path)
        items.append(GalleryItem(name, s.title, "photo", expect, synonyms, s.source, s.license, media_type, encode))
    return items


def _stamp(path: Path) -> int:
    """The file's modification time (ns), 0 when absent: a rebuilt data folder refreshes the gallery."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=4)
def _gallery(
    scenes_dir: Path, scenes_stamp: int, photos_dir: Path, photos_stamp: int, choice_path: Path, choice_stamp: int
) -> dict[str, GalleryItem]:
    choice = read_choice(choice_path)
    photos = [_offer(item, choice) for item in [*_package_items(), *real_photo_items(photos_dir)]]
    return {item.name: item for item in [*photos, *_scene_items(scenes_dir, choice)]}


def gallery(scenes_dir: Path, photos_dir: Path, reports_dir: Path) -> dict[str, GalleryItem]:
    """Every sample available here, by name: package photos, real evaluation photos, then test scenes (the
    photos the best captioner misses included, marked not offered)."""
    choice = reports_dir / "gallery.json"
    return _gallery(scenes_dir, _stamp(scenes_dir / "scenes.jsonl"), photos_dir, _stamp(photos_dir / "manifest.json"),
                    choice, _stamp(choice))


@lru_cache(maxsize=64)
def image_bytes(item: GalleryItem) -> bytes:
    """The sample's image, encoded once."""
    return item.encode()


def _table(split: str) -> list[Any]:
    """The real-photo table's photos of one split (models.data.real_photos.RealPhoto); none where it cannot be
    read."""
    try:
        from models.data.real_photos import photos

        return photos(split)
    except (ImportError, OSError, ValueError, KeyError, TypeError) as err:
        log.warning("no real photos in the gallery: the table cannot be read (%s)", err)
        return []


def real_photo_jpeg(path: Path) -> bytes:
    """A real photo as JPEG, at most MAX_SIDE px on its longer side (for a file too large to serve as it is)."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
    rgb.thumbnail((MAX_SIDE, MAX_SIDE))
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def real_photo_items(folder: Path) -> list[GalleryItem]:
    """The evaluation photos of the real-photo table whose files are in `folder` (package photos excepted: they
    are listed already, with the table's names)."""
    items = []
    root = folder.resolve()
    for p in _table("eval"):
        path = (folder / p.filename).resolve()
        if p.id in PACKAGE_PHOTOS or path.parent != root or not path.is_file():
            continue
        media_type, encode = photo_file(path)
        items.append(GalleryItem(
            name=p.id, title=p.title, kind="photo", expect=(p.main.name,),
            synonyms=tuple(w for w in p.main.synonyms if w != p.main.name),
            source=f"{p.package} {p.version} ({p.registry}): {p.path}", license=p.license, media_type=media_type,
            encode=encode,
        ))
    return items
