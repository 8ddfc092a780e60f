"""The gallery choice (models/evaluate/gallery.py): its rule on made-up captions, the committed reports/gallery.json
against reports/real_photo_eval.json, and the served best captioner on every sample the gallery offers here."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from models.evaluate.gallery import SCENES_PER_COUNT, best_captioner, photo_rows, says, scene_choice

REPORTS = Path(__file__).parents[1] / "reports"
DATA = Path(__file__).parents[1] / "data"


def test_says_matches_whole_words_only() -> None:
    assert says("a cat to the left of a dog", ["dog"]) and says("a teddy bear", ["teddy bear"])
    assert not says("a catfish", ["cat"]) and not says("", ["cat"])


def test_best_captioner_names_the_most_photos() -> None:
    report = {"splits": {"eval": {"models": {"a": {"named": 3}, "b": {"named": 7}, "c": {"named": 7}}}}}
    assert best_captioner(report) == "b"  # the first listed on a tie
    with pytest.raises(ValueError):
        best_captioner({"splits": {"eval": {"models": {}}}})


def test_photo_rule_offers_named_and_outside_vocabulary_photos(tmp_path: Path) -> None:
    def photo(pid: str, name: str, *synonyms: str) -> SimpleNamespace:
        (tmp_path / f"{pid}.jpg").write_bytes(pid.encode())
        return SimpleNamespace(id=pid, title=pid, filename=f"{pid}.jpg",
                               objects=(SimpleNamespace(name=name, synonyms=(name, *synonyms)),))

    captions = {b"cat": "a kitten", b"cup": "a trophy", b"palace": "a house"}
    photos = [photo("cat", "cat", "kitten"), photo("cup", "cup"), photo("palace", "building")]
    rows = photo_rows(photos, tmp_path, lambda data: captions[data], {"cat", "cup", "house"})
    assert [(r["id"], r["named"], r["in_vocabulary"], r["offered"]) for r in rows] == [
        ("cat", True, True, True),  # named by a synonym
        ("cup", False, True, False),  # missed: not offered
        ("palace", False, False, True),  # outside the vocabulary: offered, marked so
    ]


def test_scene_rule_takes_the_first_fully_named_scenes_per_count() -> None:
    names = ["ant", "bee", "cow", "dog", "eel", "fox"]
    scenes = [SimpleNamespace(id=i, objects=tuple(SimpleNamespace(name=names[(i + k) % 6]) for k in range(1 + i % 3)))
              for i in range(40)]
    missing = {0, 4, 5}  # these scenes' captions leave out their last object

    def caption(scene: SimpleNamespace) -> str:
        words = [o.name for o in scene.objects]
        return " and ".join(f"a {w}" for w in (words[:-1] if scene.id in missing else words))

    choice = scene_choice(scenes, caption)  # type: ignore[arg-type]
    by_count: dict[int, list[int]] = {}
    for i in choice["offered"]:
        by_count.setdefault(1 + i % 3, []).append(i)
    assert by_count == {1: [3, 6], 2: [1, 7], 3: [2, 8]}
    assert all(len(v) == SCENES_PER_COUNT for v in by_count.values())
    assert [s["id"] for s in choice["passed_over"]] == [0, 4, 5]
    assert max(choice["offered"]) < 40 - 1  # it stops once every count is full


def test_committed_choice_agrees_with_the_real_photo_report() -> None:
    """Same best captioner, same named photos: a stale gallery.json after a model change fails here."""
    gallery = json.loads((REPORTS / "gallery.json").read_text())
    real = json.loads((REPORTS / "real_photo_eval.json").read_text())
    assert gallery["captioner"] == best_captioner(real)
    named = {r["photo"]: r["named"] for r in real["splits"]["eval"]["models"][gallery["captioner"]]["per_photo"]}
    rows = {r["id"]: r for r in gallery["photos"]}
    assert {k for k, r in rows.items() if r["in_vocabulary"]} == set(named)
    assert all(rows[k]["named"] == v for k, v in named.items())
    assert all(r["offered"] == (r["named"] or not r["in_vocabulary"]) for r in rows.values())
    assert len(gallery["scenes"]["offered"]) == 3 * SCENES_PER_COUNT


def test_the_best_captioner_names_every_offered_sample() -> None:
    """The page's own samples, captioned through the API from the bytes GET /api/samples/{name} serves: the best
    captioner names the main object of every offered photo in its vocabulary and every object of every offered
    scene. The package photos are always here; the other evaluation photos and the scenes once built (make test
    builds them, as make run does)."""
    choice = json.loads((REPORTS / "gallery.json").read_text())
    model = choice["captioner"]
    with TestClient(create_app(Settings())) as c:
        samples = c.get("/api/samples").json()
        checked = []
        for s in samples:
            if not s["offered"]:
                continue
            r = c.post("/api/attention/image", data={"model": model},
                       files={"file": (s["name"], c.get(s["url"]).content, "application/octet-stream")})
            assert r.status_code == 200, (s["name"], r.text[:200])
            body = r.json()
            caption = " ".join(body["output_tokens"])
            vocab = set(body.get("known_objects") or [])
            words = [s["expect"][0], *s["synonyms"]] if s["kind"] == "photo" else []
            if s["kind"] == "photo" and not any(w in vocab for w in words):
                continue  # outside the vocabulary: offered for the vision backbones, marked on the page
            if s["kind"] == "photo":
                assert says(caption, words), (s["name"], caption)
            else:
                assert all(says(caption, [w]) for w in s["expect"]), (s["name"], caption)
            checked.append(s["name"])
    assert {"chelsea", "astronaut", "motorcycle", "flower"} <= set(checked)
    if (DATA / "real_photos" / "manifest.json").is_file() and (DATA / "scenes" / "scenes.jsonl").is_file():
        named = [r["id"] for r in choice["photos"] if r["in_vocabulary"] and r["offered"]]
        assert sorted(checked) == sorted(named + [f"scene-{i}" for i in choice["scenes"]["offered"]])
