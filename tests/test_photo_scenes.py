"""Labelled GCompris photos (models/data/gcompris_photos.py) and the photo scenes cut from them
(models/data/photo_scenes.py): the Qt resource reader on a bundle made here, the table's labels, and the scenes'
determinism and layout on synthetic pixels (no package download)."""

from __future__ import annotations

import json
import struct
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from models.data import gcompris_photos, photo_scenes
from models.data.gcompris_photos import read_rcc, table
from models.data.real_photos import load_table
from models.data.scene_objects import vocabulary
from models.data.scenes import CANVAS, Scene, render_scene
from models.evaluate import gcompris_check


def bundle(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A version-3 Qt resource bundle with one directory "d" holding `files` (name -> (bytes, compressed))."""
    names = b""
    name_offsets: dict[str, int] = {}
    for name in ["d", *files]:
        name_offsets[name] = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
    data = b""
    data_offsets: dict[str, int] = {}
    for name, (blob, compressed) in files.items():
        stored = struct.pack(">I", len(blob)) + zlib.compress(blob) if compressed else blob
        data_offsets[name] = len(data)
        data += struct.pack(">I", len(stored)) + stored
    nodes = struct.pack(">iHii", 0, 2, 1, 1) + bytes(8)  # root: one child, node 1
    nodes += struct.pack(">iHii", name_offsets["d"], 2, len(files), 2) + bytes(8)  # d: its files from node 2
    for name, (_, compressed) in files.items():
        nodes += struct.pack(">iHhhi", name_offsets[name], 1 if compressed else 0, 0, 0, data_offsets[name]) + bytes(8)
    tree = 24
    start = tree + len(nodes)
    header = b"qres" + struct.pack(">iiiii", 3, tree, start, start + len(data), 0)
    return header + nodes + data + names


def test_read_rcc_reads_plain_and_zlib_files() -> None:
    files = {"a.txt": (b"plain bytes", False), "b.webp": (bytes(range(256)) * 8, True)}
    assert read_rcc(bundle(files)) == {"d/a.txt": b"plain bytes", "d/b.webp": bytes(range(256)) * 8}
    with pytest.raises(ValueError, match="qres"):
        read_rcc(b"not a bundle")


def test_table_labels_are_vocabulary_nouns_and_no_photo_is_a_real_photo_set_photo() -> None:
    photos = table()
    assert len(photos) == 106 and len({p.key for p in photos}) == len(photos)
    assert {p.noun for p in photos} <= set(vocabulary())
    assert len({p.noun for p in photos}) == 45
    assert all(len(p.sha256) == 64 for p in photos)
    assert not {p.sha256 for p in photos} & {p.sha256 for p in load_table()}  # not an eval, dev or background photo


@pytest.fixture
def pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every labelled photo as a 300 x 400 gradient: no download needed."""
    ramp = np.linspace(0, 255, 400, dtype=np.uint8)
    image = np.stack([np.tile(ramp, (300, 1))] * 3, axis=-1)
    monkeypatch.setattr(gcompris_photos, "photo_pixels", lambda key: image)


def test_photo_scenes_are_deterministic_crops_with_one_noun(pixels: None) -> None:
    base = [Scene(i, "val", "grass", (0, 0, 100), (), ("a cat",)) for i in range(3)]
    scenes = photo_scenes.with_photo_scenes(base)
    assert scenes[:3] == base
    added = scenes[3:]
    assert [s.id for s in added] == list(range(3, 3 + len(added)))
    assert added == photo_scenes.with_photo_scenes(base)[3:]
    counts = Counter(s.objects[0].name for s in added)
    assert set(counts.values()) == {photo_scenes.VIEWS_PER_NOUN} and len(counts) == 45
    for s in added:
        left, top, side = s.crop
        assert s.split == "train" and 0 <= left and left + side <= 400 and 0 <= top and top + side <= 300
        assert 0.7 * 300 - 1 <= side <= 300
        (obj,) = s.objects
        assert obj.box == (0, 0, CANVAS, CANVAS) and s.background == obj.source
        assert s.caption.split()[-1] == obj.name and len(s.caption.split()) == 2


def test_a_photo_scene_renders_its_crop_mirrored_as_recorded(pixels: None) -> None:
    scene = photo_scenes.compose_photo_scene(7, table()[0].key, "cat")
    img = np.asarray(render_scene(scene))
    assert img.shape == (CANVAS, CANVAS, 3)
    left_dark = img[:, :20].mean() < img[:, -20:].mean()  # the gradient runs dark to light, left to right
    assert left_dark != scene.objects[0].flip


def test_gcompris_check_reads_the_builders_index(tmp_path: Path) -> None:
    rows = [{"key": "erase-kitten", "noun": "cat", "source": "gcompris-qt-data=3.1-2:erase.rcc:x/kitten.webp"}]
    (tmp_path / "photos.json").write_text(json.dumps(rows))
    (photo,) = gcompris_check.load(tmp_path)
    assert photo.names == ("cat",) and photo.boxes == () and photo.file == tmp_path / "erase-kitten.png"
    with pytest.raises(SystemExit, match="gcompris_photos"):
        gcompris_check.load(tmp_path / "missing")
