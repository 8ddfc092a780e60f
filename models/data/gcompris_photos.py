"""Real, whole photos of single kinds of things from GCompris (Debian `gcompris-qt-data`), labelled with the
vocabulary noun of their main object. Tried as training material for captioner-sat-cnn (models/data/photo_scenes.py;
rejected on dev photos: reports/photo_scenes_choice.md, so no served model has seen them); since then dev data for
captioner-sat-cnn's choices beside the 24 dev photos (reports/wider_dev_choice.md, confident_evidence_choice.md) and a
second real-photo check (reports/gcompris_check.md). Never evaluation data for the issue's targets.

GCompris's activities ship their pictures inside Qt resource bundles (.rcc). The table models/data/gcompris_photos.json
names each photo (its bundle, its path inside it, its noun and the sha256 of its bytes): 106 photos of 45 nouns from
the farm and world animal explorers, the "erase" activity's animal photos, the categorisation game's fish, tools and
household things, and the solar system's planets. Drawings, paintings, monuments and photos whose object is not in
the vocabulary (an alpaca, a meerkat, a screwdriver) are left out. None of these photos is in the real-photo
evaluation or dev sets (models/data/real_photos.py, other packages).

The builder downloads the .deb with apt-get into the package cache (models/data/real_photos.py's), reads the bundles
from it without installing it, checks every photo's sha256, and writes each photo as PNG (lossless, the same pixels)
with the folders' README files, which hold each photo's author, source and licence.
Qt resource format (qrc version 1-3): a header ("qres", version, tree, data and names offsets), a tree of 14-byte
nodes (22 from version 2: a modification time follows) and each file's data prefixed by its size; flag 1 marks a
zlib-compressed file whose stream follows a 4-byte uncompressed size.
Run: python -m models.data.gcompris_photos [--out data/gcompris] [--cache data/cache/packages]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import logging
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from models.data.real_photos import DEFAULT_CACHE, _deb, _deb_members

log = logging.getLogger(__name__)

TABLE = Path(__file__).with_name("gcompris_photos.json")
DEFAULT_OUT = Path("data/gcompris")
RCC_DIR = "usr/share/gcompris-qt/rcc"
PREFIX = "gcompris/src/activities/"  # every activity's files sit under this path inside its bundle


@dataclass(frozen=True)
class LabelledPhoto:
    """One photo of the table: its bundle, path inside it (under PREFIX), noun and sha256."""

    rcc: str
    path: str
    noun: str
    sha256: str

    @property
    def key(self) -> str:
        """The photo's file stem in the output folder, e.g. "erase-kitten"."""
        return f"{self.rcc}-{Path(self.path).stem}"


def table() -> list[LabelledPhoto]:
    return [LabelledPhoto(**row) for row in json.loads(TABLE.read_text())["photos"]]


@functools.cache
def photo_pixels(key: str, folder: Path = DEFAULT_OUT) -> np.ndarray:
    """(height, width, 3) uint8 RGB of a labelled photo, at most 1024 px on the longer side."""
    with Image.open(folder / f"{key}.png") as opened:
        img = opened.convert("RGB")
    img.thumbnail((1024, 1024), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(img))


def read_rcc(data: bytes) -> dict[str, bytes]:
    """Every file of a Qt resource bundle, by its path inside it."""
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource bundle (no 'qres' magic)")
    version, tree, start, names = struct.unpack(">iiii", data[4:20])
    if version not in (1, 2, 3):
        raise ValueError(f"unknown Qt resource format version {version}")
    node_size = 14 if version == 1 else 22

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset : names + offset + 2])
        return data[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}
    pending = [(0, "")]
    while pending:
        index, prefix = pending.pop()
        at = tree + index * node_size
        name_offset, flags = struct.unpack(">iH", data[at : at + 6])
        path = prefix + (name(name_offset) if index else "")
        if flags & 2:  # a directory: its children are consecutive nodes
            count, first = struct.unpack(">ii", data[at + 6 : at + 14])
            pending += [(first + k, path + "/" if path else "") for k in range(count)]
            continue
        (offset,) = struct.unpack(">i", data[at + 10 : at + 14])
        (size,) = struct.unpack(">I", data[start + offset : start + offset + 4])
        blob = data[start + offset + 4 : start + offset + 4 + size]
        if flags & 4:
            raise ValueError(f"{path}: zstd-compressed resources are not supported")
        files[path] = zlib.decompress(blob[4:]) if flags & 1 else blob
    return files


def build(out: Path, cache: Path) -> list[LabelledPhoto]:
    """Write every photo of the table to out/<key>.png, the README files beside them, and out/photos.json."""
    info = json.loads(TABLE.read_text())
    photos = table()
    bundles = sorted({p.rcc for p in photos})
    deb = _deb(info["package"], info["version"], cache / "debian")
    members = _deb_members(deb, {f"{RCC_DIR}/{name}.rcc" for name in bundles})
    out.mkdir(parents=True, exist_ok=True)
    for name in bundles:
        files = read_rcc(members[f"{RCC_DIR}/{name}.rcc"])
        for photo in (p for p in photos if p.rcc == name):
            data = files[PREFIX + photo.path]
            if hashlib.sha256(data).hexdigest() != photo.sha256:
                raise RuntimeError(f"{photo.path} in {deb.name} is not the photo of the table (sha256 differs)")
            Image.open(io.BytesIO(data)).convert("RGB").save(out / f"{photo.key}.png", optimize=False)
            readme = files.get(PREFIX + str(Path(photo.path).parent / "README"))
            if readme is not None:
                (out / f"{name}-{Path(photo.path).parent.name}-README").write_bytes(readme)
    rows = [{"key": p.key, "noun": p.noun, "source": f"{info['package']}={info['version']}:{p.rcc}.rcc:{p.path}"}
            for p in photos]
    (out / "photos.json").write_text(json.dumps(rows, indent=1) + "\n")
    return photos


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    photos = build(args.out, args.cache)
    log.info("wrote %d photos of %d nouns to %s", len(photos), len({p.noun for p in photos}), args.out)


if __name__ == "__main__":
    main()
