"""Close-up training scenes (models/data/closeups.py): deterministic, one large object cut by the frame with its
visible box, added after an existing set without touching it."""

import json
from pathlib import Path

import numpy as np
import pytest

from models.data import closeups as cu
from models.data import scene_objects as so
from models.data import scenes as sc

pytestmark = pytest.mark.skipif(bool(so.missing_sources()), reason="scene sources not installed (make data)")


def test_visible_mask_clips_a_picture_pasted_past_the_edges() -> None:
    picture = np.zeros((10, 8, 4), dtype=np.uint8)
    picture[..., 3] = 255
    from PIL import Image

    img = Image.fromarray(picture, "RGBA")
    mask, total = so.visible_mask(img, (-3, -4), sc.CANVAS)
    assert total == 80 and mask.sum() == 5 * 6 and mask[:6, :5].all()
    mask, _ = so.visible_mask(img, (sc.CANVAS - 2, 100), sc.CANVAS)
    assert mask.sum() == 2 * 10 and mask[100:110, sc.CANVAS - 2 :].all()
    assert so.visible_mask(img, (sc.CANVAS, 0), sc.CANVAS)[0].sum() == 0


def test_closeups_are_deterministic_large_and_boxed() -> None:
    cut = 0
    for i in range(40):
        scene = cu.compose_closeup(i, seed=0)
        assert scene == cu.compose_closeup(i, seed=0)
        assert sc.Scene.from_json(json.loads(json.dumps(scene.to_json()))) == scene
        assert scene.split == "train" and len(scene.objects) == 1
        (obj,) = scene.objects
        assert scene.references == (f"{sc.article(obj.name)} {obj.name}",)
        assert cu.SIZES[0] <= obj.size <= cu.SIZES[1]
        mask, total = so.visible_mask(so.scaled_sprite(obj.source, obj.size, obj.flip), obj.at, sc.CANVAS)
        assert sc._box(mask) == obj.box and mask.sum() >= sc.MIN_VISIBLE * total
        left, top, right, bottom = obj.box
        assert 0 <= left < right <= sc.CANVAS and 0 <= top < bottom <= sc.CANVAS
        assert max(right - left, bottom - top) >= 0.6 * sc.CANVAS  # a close-up fills much of the frame
        cut += mask.sum() < total
        pixels = np.asarray(sc.render_scene(scene))
        assert pixels.shape == (sc.CANVAS, sc.CANVAS, 3) and pixels[top:bottom, left:right].std() > 0
    assert cut >= 10  # many are cut by the frame, as in whole photos
    assert cu.compose_closeup(3, seed=1) != cu.compose_closeup(3, seed=0)


def test_closeups_follow_an_untouched_set(tmp_path: Path) -> None:
    sc.main(["--out", str(tmp_path / "base"), "--n", "20", "--seed", "3"])
    cu.main(["--scenes", str(tmp_path / "base"), "--out", str(tmp_path / "more"), "--n", "4", "--seed", "3"])
    base = (tmp_path / "base" / "scenes.jsonl").read_text(encoding="utf-8").splitlines()
    more = (tmp_path / "more" / "scenes.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(more) == 24 and more[:20] == base
    added = sc.load_scenes(tmp_path / "more")[20:]
    assert [s.id for s in added] == list(range(20, 24)) and {s.split for s in added} == {"train"}
    assert added[0] == cu.compose_closeup(20, seed=3)
    manifest = json.loads((tmp_path / "more" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["closeups"] == 4 and manifest["splits"]["train"] == 16 + 4
    assert len(list((tmp_path / "more" / "previews").glob("*.png"))) == 4
    with pytest.raises(ValueError):
        cu.with_closeups(sc.load_scenes(tmp_path / "more")[1:], 1)
