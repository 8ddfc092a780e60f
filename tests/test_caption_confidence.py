"""Caption confidence: the API's token_probs / confidence / unsure_below / unsure fields, and the calibration of the
unsure threshold (models/evaluate/caption_confidence.py) on tiny fixtures; never on the shipped weights."""

import io
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from app.schemas import ImageAttentionResponse
from app.services.serialize import image_response
from models.contract import ImageAttentionOutput
from models.evaluate.caption_confidence import (
    KEY,
    LabelledImage,
    auroc,
    calibrate,
    choose_threshold,
    is_correct,
    named_objects,
    val_scenes,
    write_calibration,
)
from models.readouts import caption_confidence
from models.serve.captioner import WEIGHTS_DIR
from models.serve.images import preprocess_image


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def caption_output(
    tokens: tuple[str, ...], probs: list[float] | None, unsure_below: float | None
) -> ImageAttentionOutput:
    T = len(tokens)
    spatial = torch.full((T, 1, 1, 4, 4), 1 / 16)  # (T, L, H, h, w), each map sums to 1
    return ImageAttentionOutput(
        image=preprocess_image(png()),
        grid=(4, 4),
        tokens=tokens,
        caption=" ".join(tokens),
        spatial=spatial,
        known_objects=("cat", "dog"),
        token_probs=None if probs is None else torch.tensor(probs),
        unsure_below=unsure_below,
    )


def test_confidence_is_the_geometric_mean_and_empty_is_zero() -> None:
    assert caption_confidence([]) == 0.0
    assert caption_confidence([0.5, 0.5]) == pytest.approx(0.5)
    assert caption_confidence([1.0, 0.25]) == pytest.approx(0.5)
    assert caption_confidence(torch.tensor([0.9, 0.0, 0.9])) == 0.0
    assert caption_confidence([0.8, 0.2, 0.5]) == pytest.approx((0.8 * 0.2 * 0.5) ** (1 / 3))


@pytest.mark.parametrize(
    ("tokens", "probs", "below", "confidence", "unsure"),
    [
        (("a", "cat"), [0.9, 0.1], 0.35, 0.3, True),  # sqrt(0.09) = 0.3 < 0.35: say it is unsure
        (("a", "cat"), [0.9, 0.9], 0.35, 0.9, False),
        (("a", "cat"), [0.9, 0.1], None, 0.3, None),  # not calibrated: no verdict
        ((), [], 0.35, 0.0, True),  # an empty caption has confidence 0
        (("a", "cat"), None, 0.35, None, None),  # a model that records no probabilities
    ],
)
def test_response_fields(
    tokens: tuple[str, ...],
    probs: list[float] | None,
    below: float | None,
    confidence: float | None,
    unsure: bool | None,
) -> None:
    answer = image_response("cap", caption_output(tokens, probs, below))
    body = ImageAttentionResponse.model_validate(answer).model_dump()
    assert body["token_probs"] == (None if probs is None else pytest.approx(probs))
    assert body["confidence"] == (None if confidence is None else pytest.approx(confidence, abs=1e-6))
    assert body["unsure_below"] == below and body["unsure"] is unsure
    assert body["known_objects"] == ["cat", "dog"]


def test_probabilities_must_match_the_tokens() -> None:
    with pytest.raises(ValueError, match="2 token probabilities for 3 tokens"):
        image_response("cap", caption_output(("a", "cat", "dog"), [0.9, 0.9], None))


def post(client: TestClient, data: bytes, model: str) -> Any:
    return client.post("/api/attention/image", data={"model": model}, files={"file": ("photo.jpg", data)})


def test_captioner_answers_carry_confidence(client: TestClient) -> None:
    from app.api.routes.samples import sample_jpeg

    r = post(client, sample_jpeg("coffee"), "captioner-sat")
    assert r.status_code == 200, r.text[:300]
    body = ImageAttentionResponse.model_validate(r.json())
    assert body.token_probs is not None and len(body.token_probs) == len(body.output_tokens or [])
    assert all(0 < p <= 1 for p in body.token_probs)
    probs = [*body.token_probs, *([] if body.stop_prob is None else [body.stop_prob])]  # the words, then the stop
    assert body.stop_prob is not None and 0 < body.stop_prob <= 1  # this caption ended before the length limit
    expected = math.exp(sum(map(math.log, probs)) / len(probs)) if body.token_probs else 0.0
    assert body.confidence == pytest.approx(expected, abs=1e-5)
    config = json.loads((WEIGHTS_DIR / "captioner-sat" / "config.json").read_text())
    assert body.unsure_below == config.get("unsure_below")
    assert body.unsure == (None if body.unsure_below is None else body.confidence < body.unsure_below)
    assert body.known_objects == config["known_objects"]
    assert body.beam == config.get("beam", 1) == 1  # captioner-sat: greedy


def test_the_answer_names_the_served_beam(client: TestClient) -> None:
    """captioner-sat-cnn is served with the beam its config sets (reports/decoding_choice.md), and says so."""
    from app.api.routes.samples import sample_jpeg

    config = json.loads((WEIGHTS_DIR / "captioner-sat-cnn" / "config.json").read_text())
    r = post(client, sample_jpeg("chelsea"), "captioner-sat-cnn")
    assert r.status_code == 200, r.text[:300]
    assert r.json()["beam"] == config["beam"] > 1


def test_backbones_have_no_confidence(client: TestClient) -> None:
    r = client.post(
        "/api/attention/image",
        data={"model": "dinov2-s14", "layers": "11", "heads": "0"},
        files={"file": ("p.png", png((60, 40)))},
    )
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert (body["token_probs"], body["confidence"], body["unsure_below"], body["unsure"], body["beam"]) == (None,) * 5
    assert body["known_objects"] == []


def test_openapi_documents_the_fields_with_a_captioner_example(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ImageAttentionResponse"]
    assert {"token_probs", "confidence", "unsure_below", "unsure", "beam", "known_objects"} <= set(schema["properties"])
    captioner = next(e for e in schema["examples"] if e["model"].startswith("captioner"))
    assert len(captioner["token_probs"]) == len(captioner["output_tokens"])
    assert captioner["unsure"] is True and captioner["confidence"] < captioner["unsure_below"]


# --- Calibration (models/evaluate/caption_confidence.py) ---


def test_object_names_match_whole_words_longest_first() -> None:
    vocabulary = ["dog", "hot dog", "cat"]
    assert named_objects("a hot dog to the left of a cat".split(), vocabulary) == ["hot dog", "cat"]
    assert named_objects("a dog above a dog".split(), vocabulary) == ["dog", "dog"]
    assert named_objects("a catalogue".split(), vocabulary) == []
    scene = LabelledImage("val_scenes", "1", bytes, ("dog", "cat"))
    assert is_correct("a dog to the left of a cat".split(), scene, vocabulary)
    assert not is_correct("a dog".split(), scene, vocabulary)  # misses the cat
    assert not is_correct("a dog to the left of a cat and the cat above a hot dog".split(), scene, vocabulary)
    photo = LabelledImage("dev_photos", "p", bytes, ("cat",), ("kitten",), require_all=False)
    assert is_correct("a kitten to the left of a dog".split(), photo, vocabulary)
    assert not is_correct("a dog".split(), photo, vocabulary)


def test_threshold_rule() -> None:
    # Separable: wrong captions below 0.35, right ones above: t is the midpoint of the gap, balanced accuracy 1.
    conf, ok = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7], [False, False, False, True, True, True]
    chosen = choose_threshold(conf, ok, [1.0] * 6)
    assert chosen.value == pytest.approx(0.35) and chosen.balanced_accuracy == 1.0
    # Confidence that does not separate them (the right captions are the unsure ones): no threshold.
    assert choose_threshold(conf, [not x for x in ok], [1.0] * 6).value is None
    assert choose_threshold([0.2, 0.9], [True, True], [1.0, 1.0]).value is None  # no wrong caption at all
    # Ties go to the lowest threshold: 0.15 and 0.45 both flag one of two wrong captions and keep every right one.
    tie = choose_threshold([0.1, 0.3, 0.5, 0.6], [False, True, False, True], [1.0] * 4)
    assert tie.value == pytest.approx(0.2) and tie.balanced_accuracy == 0.75
    # Weights: a heavy wrong caption at 0.5 moves t above it.
    heavy = choose_threshold([0.1, 0.5, 0.6, 0.7], [False, False, True, True], [1.0, 10.0, 1.0, 1.0])
    assert heavy.value == pytest.approx(0.55)
    assert auroc(conf, ok) == 1.0 and auroc(conf, [not x for x in ok]) == 0.0


def test_calibrate_and_write_on_a_fixture_folder(tmp_path: Path) -> None:
    """A fake captioner (a table: image bytes -> words and probabilities) over 6 scenes and 2 dev photos."""
    answers = {
        b"s1": ("a dog", [0.9, 0.8]),
        b"s2": ("a cat", [0.9, 0.7]),
        b"s3": ("a dog to the left of a cat", [0.9] * 8),
        b"s4": ("a cat", [0.9, 0.2]),
        b"s5": ("a tree", [0.5, 0.3]),
        b"s6": ("", []),
        b"p1": ("a kitten", [0.9, 0.6]),
        b"p2": ("a dog", [0.8, 0.1]),
    }

    def caption(data: bytes) -> tuple[list[str], list[float], list[str]]:
        words, probs = answers[data]
        return words.split(), probs, ["cat", "dog", "tree"]

    def item(source: Any, key: str, expect: tuple[str, ...], **kw: Any) -> LabelledImage:
        return LabelledImage(source, key, lambda: key.encode(), expect, **kw)

    items = [
        item("val_scenes", "s1", ("dog",)),
        item("val_scenes", "s2", ("cat",)),
        item("val_scenes", "s3", ("cat", "dog")),
        item("val_scenes", "s4", ("dog",)),
        item("val_scenes", "s5", ("cat",)),
        item("val_scenes", "s6", ("dog",)),
        item("dev_photos", "p1", ("cat",), synonyms=("kitten",), require_all=False),
        item("dev_photos", "p2", ("cat",), require_all=False),
    ]
    figures = calibrate(caption, items)
    # Right: s1 (0.85), s2 (0.79), s3 (0.9), p1 (0.73); wrong: s4 (0.42), s5 (0.39), s6 (0), p2 (0.28).
    assert figures["unsure_below"] == pytest.approx((0.9 * 0.2) ** 0.5 / 2 + (0.9 * 0.6) ** 0.5 / 2, abs=1e-6)
    assert figures["balanced_accuracy"] == 1.0
    scenes = figures["sources"]["val_scenes"]
    assert (scenes["captions"], scenes["correct"], scenes["wrong"], scenes["auroc"]) == (6, 3, 3, 1.0)
    assert (scenes["wrong_flagged"], scenes["correct_flagged"]) == (1.0, 0.0)
    assert figures["sources"]["dev_photos"]["captions"] == 2
    assert "balanced accuracy" in figures["rule"]

    folder = tmp_path / "captioner-x"
    folder.mkdir()
    shutil.copy(WEIGHTS_DIR / "captioner-sat" / "config.json", folder / "config.json")
    (folder / "metrics.json").write_text(json.dumps({"test": {"bleu4": 1.0}}))
    write_calibration(folder, figures)
    config = json.loads((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert config["unsure_below"] == figures["unsure_below"] and config["kind"] == "sat"
    assert metrics["test"] == {"bleu4": 1.0} and metrics[KEY]["unsure_below"] == figures["unsure_below"]


def test_validation_scenes_come_from_the_val_split_only(tmp_path: Path) -> None:
    from models.data.scenes import load_scenes
    from models.data.scenes import main as build_scenes

    build_scenes(["--out", str(tmp_path), "--n", "40"])
    items = val_scenes(tmp_path)
    val = load_scenes(tmp_path, "val")
    assert [i.id for i in items] == [str(s.id) for s in val] and all(i.source == "val_scenes" for i in items)
    assert items[0].expect == tuple(o.name for o in val[0].objects) and items[0].require_all
    assert items[0].image()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(val_scenes(tmp_path, limit=1)) == 1


def test_dev_photos_only_never_the_eval_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = pytest.importorskip("models.data.real_photos", reason="the real-photo table lands with issue 13 item 3")
    from models.evaluate.caption_confidence import dev_photos

    def photo(id_: str, split: str) -> Any:
        main = real.RealObject("cat", ("cat", "kitten"), ((0, 0, 10, 10),))
        return real.RealPhoto(
            id=id_,
            split=split,
            registry="pypi",
            package="p",
            version="1",
            path=f"x/{id_}.png",
            license="CC0",
            title=id_,
            width=64,
            height=48,
            bytes=1,
            sha256="0",
            objects=(main,),
        )

    monkeypatch.setattr(
        real, "load_table", lambda path=None: [photo("d1", "dev"), photo("e1", "eval"), photo("d2", "dev")]
    )
    for name in ("d1.png", "e1.png"):  # d2's file is missing: left out with a warning
        (tmp_path / name).write_bytes(png())
    items = dev_photos(tmp_path)
    assert [(i.source, i.id, i.expect, i.synonyms, i.require_all) for i in items] == [
        ("dev_photos", "d1", ("cat",), ("kitten",), False)
    ]
    assert items[0].image() == png()
    assert dev_photos(tmp_path / "absent") == []


def test_a_caption_cut_short_is_not_confident() -> None:
    """The stop counts: "a" said with certainty but ended where the decoder hardly wanted to end is unsure."""
    out = caption_output(("a",), [0.97], 0.5)
    short = ImageAttentionOutput(**{**out.__dict__, "stop_prob": 0.01})
    assert short.caption_probs() == pytest.approx([0.97, 0.01])
    body = image_response("cap", short)
    assert body["confidence"] == pytest.approx(math.sqrt(0.97 * 0.01), abs=1e-4) and body["unsure"] is True
    empty = ImageAttentionOutput(**{**caption_output((), [], 0.5).__dict__, "stop_prob": 0.99})
    assert empty.caption_probs() == [] and image_response("cap", empty)["confidence"] == 0.0
