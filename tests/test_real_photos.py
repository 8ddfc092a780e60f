"""The real-photo table (models/data/real_photos.json) and the photos its builder copies.

The table checks need nothing but the JSON. The byte checks compare built photos with the table's
sha256 and size: the full set in data/real_photos where `make data` built it, otherwise the
scikit-image photos, which the builder reads from the venv's installed package (no download), so
this test never skips.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from models.data.real_photos import SPLITS, RealPhoto, build, load_table, photos, problems

DATA = Path(__file__).resolve().parents[1] / "data" / "real_photos"
TABLE = load_table()
# The image page's sample photos (issue 13: they belong to the evaluation split), by package file.
PAGE_SAMPLES = {
    "chelsea": "skimage/data/chelsea.png",
    "astronaut": "skimage/data/astronaut.png",
    "coffee": "skimage/data/coffee.png",
    "rocket": "skimage/data/rocket.jpg",
    "motorcycle": "skimage/data/motorcycle_left.png",
    "china": "sklearn/datasets/images/china.jpg",
    "flower": "sklearn/datasets/images/flower.jpg",
}


def test_table_is_valid() -> None:
    assert problems(TABLE) == []


def test_splits_are_large_enough_and_disjoint() -> None:
    ids = {s: {p.id for p in photos(s, TABLE)} for s in SPLITS}
    assert len(ids["eval"]) >= 30 and len(ids["dev"]) >= 12 and len(ids["background"]) >= 25
    assert ids["eval"].isdisjoint(ids["dev"])
    assert ids["eval"].isdisjoint(ids["background"]) and ids["dev"].isdisjoint(ids["background"])
    assert len(TABLE) == sum(len(v) for v in ids.values())


def test_every_photo_has_a_licence_and_eval_dev_a_main_object_with_a_box() -> None:
    for p in TABLE:
        assert p.license.strip(), p.id
        if p.split != "background":
            assert p.main.name and p.main.boxes, p.id
            assert all(o.synonyms and o.name in o.synonyms for o in p.objects), p.id


def test_page_samples_are_evaluation_photos() -> None:
    evaluation = {p.id: p.path for p in photos("eval", TABLE)}
    for name, path in PAGE_SAMPLES.items():
        assert evaluation.get(name) == path, name


def test_problems_reports_a_broken_table() -> None:
    cat = next(p for p in TABLE if p.id == "chelsea")
    outside = replace(cat, objects=(replace(cat.main, boxes=((0, 0, cat.width + 1, 10),)),))
    flat = replace(cat, id="flat", path="x", sha256="f" * 64, objects=(replace(cat.main, boxes=((5, 5, 5, 9),)),))
    found = problems([cat, outside, flat])
    assert any("appears 2 times" in s for s in found)
    assert any("is not inside" in s and "chelsea" in s for s in found)
    assert any("flat:" in s and "is not inside" in s for s in found)
    assert problems([replace(cat, license=" ")]) == ["chelsea: no licence"]
    assert problems([replace(cat, split="background")])[0].startswith("chelsea: a background lists objects")


def _check_files(folder: Path, expected: list[RealPhoto]) -> None:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    order = sorted(expected, key=lambda p: (SPLITS.index(p.split), p.id))
    assert [r["id"] for r in manifest["photos"]] == [p.id for p in order]
    for p in expected:
        blob = (folder / p.filename).read_bytes()
        assert len(blob) == p.bytes, p.id
        assert hashlib.sha256(blob).hexdigest() == p.sha256, p.id


def test_built_photos_match_the_table(tmp_path: Path) -> None:
    if (DATA / "manifest.json").is_file():  # after `make data`: every photo
        built = {r["id"] for r in json.loads((DATA / "manifest.json").read_text())["photos"]}
        _check_files(DATA, [p for p in TABLE if p.id in built])
        assert built == {p.id for p in TABLE}, "data/real_photos is stale: run make data"
        return
    skimage = [p for p in TABLE if p.package == "scikit-image"]
    assert len(skimage) >= 5
    build(tmp_path / "a", tmp_path / "cache", skimage)
    _check_files(tmp_path / "a", skimage)


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    some = [p for p in TABLE if p.package == "scikit-image"][:2]
    build(tmp_path / "a", tmp_path / "cache", some)
    build(tmp_path / "b", tmp_path / "cache", some)
    for name in ["manifest.json"] + [p.filename for p in some]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_build_refuses_bytes_that_differ_from_the_table(tmp_path: Path) -> None:
    cat = next(p for p in TABLE if p.id == "chelsea")
    with pytest.raises(RuntimeError, match="the table says"):
        build(tmp_path / "a", tmp_path / "cache", [replace(cat, sha256="0" * 64)])
