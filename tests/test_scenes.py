"""The composed captioning scenes (models/data/scenes.py) and what they are made of (scene_objects.py):
deterministic, boxes inside the canvas and on the object, real-photo cut-outs, no evaluation photo used."""

import json
from pathlib import Path

import numpy as np
import pytest

from models.data import scene_objects as so
from models.data import scenes as sc

pytestmark = pytest.mark.skipif(bool(so.missing_sources()), reason="scene sources not installed (make data)")


def test_vocabulary_is_broad_and_grounded_in_real_photos() -> None:
    nouns = so.vocabulary()
    assert len(nouns) >= 150 and len(set(nouns)) == len(nouns)
    assert len(so.photo_nouns()) >= 60  # nouns drawn from real-photo cut-outs
    assert all(n.isalpha() and n.islower() for n in nouns)  # one plain word each: the caption grammar needs it
    table = json.loads(so.TABLE.read_text(encoding="utf-8"))
    for file, noun, kind in table["stamps"]:
        assert (so.TUX_STAMPS / file).is_file(), file
        assert kind in ("photo", "drawing") and noun in nouns


def test_every_picture_and_background_loads() -> None:
    for pics in so.pictures().values():
        for picture in pics:
            img = so.sprite(picture.source)
            assert img.mode == "RGBA" and min(img.size) >= 4
    for name in so.BACKGROUNDS:
        photo = so.background_photo(name)
        assert photo.ndim == 3 and photo.shape[2] == 3 and min(photo.shape[:2]) >= 224


def test_no_evaluation_photo_is_a_background_or_object() -> None:
    """No photo of the real-photo eval or dev split (models/data/real_photos.py, the page's samples among them)
    feeds the scenes: compared by file bytes (sha256) for files, by name for scikit-image's photos."""
    import hashlib

    from models.data.real_photos import load_table, photos

    held_out = photos("eval") + photos("dev")
    assert len(held_out) >= 42
    digests = {p.sha256 for p in held_out}
    skimage_stems = {Path(p.path).stem.removesuffix("_left") for p in held_out if p.package == "scikit-image"}
    for name, where in so.BACKGROUNDS.items():
        kind, _, ref = where.partition(":")
        if kind == "skimage":
            assert ref not in skimage_stems, name
        else:
            assert hashlib.sha256((so.BACKGROUND_DIRS[kind] / ref).read_bytes()).hexdigest() not in digests, name
    stamps = json.loads(so.TABLE.read_text(encoding="utf-8"))["stamps"]
    for file, _, _ in stamps:
        assert hashlib.sha256((so.TUX_STAMPS / file).read_bytes()).hexdigest() not in digests, file
    assert load_table()  # the table itself is checked by tests/test_real_photos.py


def test_scene_composer_is_deterministic_with_boxes_inside() -> None:
    for i in range(30):
        scene = sc.compose(i, seed=0)
        assert scene == sc.compose(i, seed=0)
        assert sc.Scene.from_json(json.loads(json.dumps(scene.to_json()))) == scene
        assert 1 <= len(scene.objects) <= 3
        names = [o.name for o in scene.objects]
        assert len(set(names)) == len(names)
        for o in scene.objects:
            left, top, right, bottom = o.box
            assert 0 <= left < right <= sc.CANVAS and 0 <= top < bottom <= sc.CANVAS
            for ref in scene.references:  # every caption names every object
                assert o.name in ref.split()
        for a in scene.objects:
            for b in scene.objects:
                if a is not b:
                    assert sc.clear_relation(a, b)
    assert sc.compose(3, seed=1) != sc.compose(3, seed=0)


def test_boxes_hold_the_visible_object() -> None:
    """Each box is the bounding box of the object's pixels left visible after later objects were pasted."""
    for i in range(12):
        scene = sc.compose(i, seed=0)
        masks = [sc._mask(o) for o in scene.objects]
        for k, obj in enumerate(scene.objects):
            later = np.logical_or.reduce(masks[k + 1 :]) if k + 1 < len(masks) else np.zeros_like(masks[k])
            seen = masks[k] & ~later
            assert sc._box(seen) == obj.box
            assert seen.sum() >= sc.MIN_VISIBLE * masks[k].sum()


def test_captions_follow_the_geometry() -> None:
    def thing(name: str, box: tuple[int, int, int, int]) -> sc.SceneObject:
        return sc.SceneObject(name, so.pictures()[name][0].source, box, 50, box[:2], False, 0.0, (1.0, 1.0, 1.0))

    dog, car, apple = (
        thing("dog", (10, 100, 60, 150)),
        thing("car", (150, 110, 200, 150)),
        thing("apple", (150, 10, 200, 60)),
    )
    assert sc.captions((dog, car)) == ("a car to the right of a dog", "a dog to the left of a car")
    three = sc.captions((dog, car, apple))
    assert len(three) == 6 and "a dog to the left of a car and the car below an apple" in three


def test_render_and_split_are_deterministic() -> None:
    scene = sc.compose(5, seed=0)
    a, b = np.asarray(sc.render_scene(scene)), np.asarray(sc.render_scene(scene))
    assert a.shape == (sc.CANVAS, sc.CANVAS, 3) and (a == b).all()
    left, top, right, bottom = scene.objects[0].box
    assert a[top:bottom, left:right].std() > 0  # the object is drawn
    split = sc.splits(1000, seed=0)
    assert split == sc.splits(1000, seed=0)
    assert (split.count("train"), split.count("val"), split.count("test")) == (800, 100, 100)


def test_most_objects_are_real_photo_cut_outs() -> None:
    kinds = []
    for i in range(200):
        for o in sc.compose(i, seed=0).objects:
            kinds.append(next(p.kind for p in so.pictures()[o.name] if p.source == o.source))
    assert kinds.count("photo") / len(kinds) > 0.4, kinds.count("photo") / len(kinds)


def test_extra_training_scenes_leave_the_set_and_its_splits_alone(tmp_path: Path) -> None:
    """--extra-train adds training scenes after the n: the n scenes, their splits and the file's first n lines are
    those of a build without it, so the held-out scenes stay the same."""
    sc.main(["--out", str(tmp_path / "plain"), "--n", "20", "--seed", "3"])
    sc.main(["--out", str(tmp_path / "more"), "--n", "20", "--seed", "3", "--extra-train", "5"])
    plain = (tmp_path / "plain" / "scenes.jsonl").read_text(encoding="utf-8").splitlines()
    more = (tmp_path / "more" / "scenes.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(plain) == 20 and more[:20] == plain
    extra = sc.load_scenes(tmp_path / "more")[20:]
    assert [s.id for s in extra] == list(range(20, 25)) and {s.split for s in extra} == {"train"}
    manifest = json.loads((tmp_path / "more" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["extra_train"] == 5 and manifest["splits"]["train"] == 16 + 5
    assert "extra_train" not in json.loads((tmp_path / "plain" / "manifest.json").read_text(encoding="utf-8"))
