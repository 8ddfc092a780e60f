"""POST /api/attention/image and GET /api/samples through the real app (TestClient), hostile uploads included."""

import io
import json
import struct
import zlib
from functools import lru_cache
from typing import Any

import jsonschema_rs
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.schemas import ImageAttentionResponse, SampleImage
from models.data.scenes import OBJECT_NAMES
from models.serve.captioner import WEIGHTS_DIR

MODEL = "dinov2-s14"
LAYERS, HEADS = 12, 6


@lru_cache
def chelsea_jpeg() -> bytes:
    from app.api.routes.samples import sample_jpeg

    return sample_jpeg("chelsea")


def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def photo(mode: str = "RGB", size: tuple[int, int] = (90, 60)) -> Image.Image:
    """A small (width, height) gradient in the given mode, so every conversion has real content."""
    w, h = size
    x = np.linspace(0, 1, w)[None, :] * np.ones((h, 1))
    rgb = (np.stack([x, x[::-1, ::-1], 0.5 * np.ones_like(x)], axis=-1) * 255).astype(np.uint8)
    return Image.fromarray(rgb).convert(mode)


def post(client: TestClient, data: bytes, model: str = MODEL, name: str = "upload.bin", **fields: str) -> Any:
    return client.post("/api/attention/image", data={"model": model, **fields}, files={"file": (name, data)})


def assert_distributions(maps: list[dict[str, Any]]) -> None:
    for m in maps:
        total = float(np.sum(m["values"])) + m["cls_self"]
        assert abs(total - 1) < 1e-4, (m["kind"], m["layer"], m["head"], total)
        assert min(min(row) for row in m["values"]) >= 0


def test_chelsea_returns_every_map(client: TestClient) -> None:
    r = post(client, chelsea_jpeg(), name="chelsea.jpg")
    assert r.status_code == 200, r.text[:500]
    body = ImageAttentionResponse.model_validate(r.json())
    assert body.model == MODEL and body.caption is None and body.output_tokens is None
    assert body.image_size == [300, 451]  # skimage's chelsea is 451 wide, 300 high
    assert body.input_size == [224, 224] and body.grid == [16, 16]
    assert body.preprocessing.crop_box == [75.5, 0.0, 375.5, 300.0]
    assert body.preprocessing.format == "JPEG" and body.preprocessing.exif_orientation == 1
    maps = r.json()["maps"]
    per_head = [m for m in maps if m["kind"] == "cls" and m["head"] is not None]
    means = [m for m in maps if m["kind"] == "cls" and m["head"] is None]
    rollout = [m for m in maps if m["kind"] == "rollout"]
    assert len(per_head) == LAYERS * HEADS and len(means) == LAYERS and len(rollout) == LAYERS
    assert len(maps) == LAYERS * HEADS + 2 * LAYERS
    assert {(m["layer"], m["head"]) for m in per_head} == {(lay, h) for lay in range(LAYERS) for h in range(HEADS)}
    assert all(m["shape"] == [16, 16] and len(m["values"]) == 16 and len(m["values"][0]) == 16 for m in maps)
    assert all(m["step"] is None for m in maps)
    assert all(m["head"] is None for m in rollout)
    assert_distributions(maps)
    # The mean over heads is the mean of the per-head maps.
    layer5 = np.array([m["values"] for m in per_head if m["layer"] == 5])
    mean5 = next(m for m in means if m["layer"] == 5)
    assert np.allclose(layer5.mean(axis=0), mean5["values"], atol=2e-6)
    assert "patches" in body.covers and "cls_self" in body.covers
    assert "median" in body.artifact_rule
    assert all(0 <= r < 16 and 0 <= c < 16 for r, c in body.artifact_patches)


def test_layer_and_head_slice(client: TestClient) -> None:
    r = post(client, chelsea_jpeg(), layers="11, 3", heads="2,0")
    assert r.status_code == 200, r.text[:500]
    got = [(m["kind"], m["layer"], m["head"]) for m in r.json()["maps"]]
    assert got == [
        ("cls", 3, 0), ("cls", 3, 2), ("cls", 3, None), ("rollout", 3, None),
        ("cls", 11, 0), ("cls", 11, 2), ("cls", 11, None), ("rollout", 11, None),
    ]
    full = post(client, chelsea_jpeg()).json()["maps"]
    same = next(m for m in full if (m["kind"], m["layer"], m["head"]) == ("cls", 11, 2))
    assert r.json()["maps"][5] == same


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"layers": "12"}, "layer 12 does not exist"),
        ({"heads": "6"}, "head 6 does not exist"),
        ({"layers": "one"}, "layers"),
        ({"heads": "null"}, "heads"),  # a form field is text: "null" is not an omitted field
        ({"heads": "-1"}, "heads"),
        ({"ablate": "null"}, "ablate"),
        ({"ablate": "[[0, 1.5]]"}, "ablate"),
    ],
)
def test_bad_slices_are_422(client: TestClient, fields: dict[str, str], message: str) -> None:
    r = post(client, chelsea_jpeg(), **fields)
    assert r.status_code == 422
    assert message in r.json()["detail"]


def test_samples_list_and_serve(client: TestClient) -> None:
    r = client.get("/api/samples", params={"all": "true"})  # the offered ones and those the gallery leaves out
    assert r.status_code == 200
    samples = [SampleImage.model_validate(s) for s in r.json()]
    assert {"chelsea", "astronaut", "coffee", "rocket", "motorcycle", "china", "flower"} <= {s.name for s in samples}
    offered = {s["name"] for s in client.get("/api/samples").json()}
    assert offered == {s.name for s in samples if s.offered} and "chelsea" in offered
    r = client.get("/api/samples/china")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (640, 427)
    for name in ("nope", "..%2F..%2Fetc%2Fpasswd", "chelsea.png"):
        r = client.get(f"/api/samples/{name}")
        assert r.status_code == 404, name
        assert "Samples:" in r.json()["detail"] or r.json()["detail"]


# ---- Request errors ----


def test_unknown_model_is_404(client: TestClient) -> None:
    r = post(client, chelsea_jpeg(), model="gpt-9")
    assert r.status_code == 404
    assert "Unknown model 'gpt-9'" in r.json()["detail"]


def test_text_model_is_422(client: TestClient) -> None:
    r = post(client, chelsea_jpeg(), model="minilm-l6")
    assert r.status_code == 422
    assert "does not take images" in r.json()["detail"]


def test_missing_file_and_model_are_422(client: TestClient) -> None:
    r = client.post("/api/attention/image", data={"model": MODEL})
    assert r.status_code == 422
    assert r.json()["detail"] == "file: Field required."
    r = client.post("/api/attention/image", files={"file": ("c.jpg", chelsea_jpeg())})
    assert r.status_code == 422
    assert r.json()["detail"] == "model: Field required."
    r = client.post("/api/attention/image", json={"model": MODEL})
    assert r.status_code == 422


def test_oversized_body_is_413(client: TestClient) -> None:
    r = post(client, b"\xff" * (10 * 1024 * 1024 + 1))
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]


# ---- Hostile and unusual images ----


def noise_png() -> bytes:
    """Random pixels compress badly, so cutting the file short really cuts the pixel data."""
    rng = np.random.default_rng(0)
    return encode(Image.fromarray(rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)), "PNG")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height RGB pixels, with a tiny (wrong) IDAT: a decompression bomb's header."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello, this is not an image at all", "not an image"),
        (b"", "empty"),
        (noise_png()[:3000], "truncated or corrupt"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "SVG"),
        (png_header_only(100_000, 100_000), "pixels"),
        (png_header_only(10_000, 6_000), "pixels"),  # 60 MP: over our limit, under Pillow's own bomb warning
    ],
    ids=["text", "empty", "truncated-png", "svg", "bomb-10-gigapixel", "bomb-60-megapixel"],
)
def test_hostile_uploads_are_422(client: TestClient, data: bytes, message: str) -> None:
    r = post(client, data)
    assert r.status_code == 422, r.text[:500]
    assert message in r.json()["detail"]


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def cmyk_jpeg() -> bytes:
    return encode(photo("CMYK"), "JPEG")


def sixteen_bit_png() -> bytes:
    levels = (np.linspace(0, 65535, 60 * 90).reshape(60, 90)).astype(np.uint16)
    return encode(Image.fromarray(levels), "PNG")


def rgba_png() -> bytes:
    img = photo("RGBA")
    img.putalpha(128)
    return encode(img, "PNG")


def exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise: portrait
    return encode(photo(size=(90, 60)), "JPEG", exif=exif)


@pytest.mark.parametrize(
    ("data", "image_size", "check"),
    [
        (animated_gif(), [30, 40], {"format": "GIF", "multi_frame": True}),
        (cmyk_jpeg(), [60, 90], {"format": "JPEG", "mode": "CMYK"}),
        (sixteen_bit_png(), [60, 90], {"format": "PNG", "mode": "I;16"}),
        (rgba_png(), [60, 90], {"mode": "RGBA", "alpha_composited": True}),
        (encode(photo("L"), "PNG"), [60, 90], {"mode": "L"}),
        (exif_rotated_jpeg(), [90, 60], {"exif_orientation": 6, "stored_size": [60, 90]}),
    ],
    ids=["animated-gif", "cmyk-jpeg", "16-bit-png", "rgba-png", "greyscale-png", "exif-rotated-jpeg"],
)
def test_unusual_images_work(client: TestClient, data: bytes, image_size: list[int], check: dict[str, Any]) -> None:
    r = post(client, data, layers="11", heads="0")
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert body["image_size"] == image_size
    assert body["grid"] == [16, 16]
    for key, value in check.items():
        assert body["preprocessing"][key] == value, key
    assert_distributions(body["maps"])


def test_blank_form_fields_mean_all(client: TestClient) -> None:
    full = post(client, chelsea_jpeg())
    blank = post(client, chelsea_jpeg(), layers=" ", heads="", ablate="\n")
    assert blank.status_code == 200 and blank.json() == full.json()


FORM_AGREEMENT = [  # (form fields, the image is a readable photo): schema and server must agree on each
    {"model": MODEL, "layers": "11, 0", "heads": "5"},
    {"model": MODEL, "layers": "12"},
    {"model": MODEL, "heads": "6"},
    {"model": MODEL, "heads": "007"},
    {"model": MODEL, "heads": "null"},
    {"model": MODEL, "layers": "\r\n", "ablate": " "},  # blank: all layers, nothing ablated
    {"model": MODEL, "heads": "\u3000"},  # white space to str.strip, not to the pattern: refused
    {"model": MODEL, "ablate": '[[11, 5], ["self", 0, 0]]'},
    {"model": MODEL, "ablate": "[[12, 0]]"},
    {"model": MODEL, "ablate": '[["cross", 0, 0]]'},
    {"model": MODEL, "ablate": "[[0, 01]]"},
    {"model": "captioner-sat", "ablate": "[]"},
    {"model": "captioner-sat", "ablate": "[[0, 0]]"},
    {"model": "captioner-transformer", "layers": "2", "heads": "3", "ablate": "[[2, 3]]"},
    {"model": "captioner-transformer", "layers": "3"},
    {"model": "minilm-l6"},
]


@pytest.mark.parametrize("fields", FORM_AGREEMENT, ids=lambda fields: json.dumps(fields))
def test_form_schema_and_server_agree(client: TestClient, fields: dict[str, str]) -> None:
    from tests.test_api_text import request_schema

    operation = client.get("/openapi.json").json()["paths"]["/api/attention/image"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    name = form["$ref"].rsplit("/", 1)[-1]
    sent = {**fields, "file": "(the photo)"}
    valid = request_schema(client, name).is_valid(sent) and jsonschema_rs.Draft202012Validator(
        {"allOf": form["allOf"]}
    ).is_valid(sent)
    _, png = scene()
    r = post(client, png, name="scene.png", **fields)
    assert (r.status_code == 200) == valid, (r.status_code, r.text[:200])


def test_openapi_documents_multipart_upload(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post_op = spec["paths"]["/api/attention/image"]["post"]
    content = post_op["requestBody"]["content"]
    assert "multipart/form-data" in content
    ref = content["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    props = spec["components"]["schemas"][ref]["properties"]
    assert {"model", "file", "layers", "heads"} <= set(props)
    assert {"404", "413", "422", "503"} <= set(post_op["responses"])
    assert "examples" in spec["components"]["schemas"]["ImageAttentionResponse"]


# --- Captioning models (kind "spatial" maps, one set per generated word) ---

CAPTIONERS = ("captioner-sat", "captioner-transformer")  # weights in git: missing ones fail loudly


@lru_cache
def scene() -> Any:
    """A held-out composed scene with two objects, and its PNG bytes."""
    from models.data.scenes import scene_png
    from tests.test_captioner import first_test_scene

    s = first_test_scene(2)
    return s, scene_png(s)


def assert_spatial(maps: list[dict[str, Any]], steps: int) -> None:
    assert maps and all(m["kind"] == "spatial" and m["cls_self"] is None for m in maps)
    assert {m["step"] for m in maps} == set(range(steps))
    for m in maps:
        assert m["shape"] == [16, 16]
        assert abs(float(np.sum(m["values"])) - 1) < 1e-4, (m["step"], m["layer"], m["head"])
        assert min(min(row) for row in m["values"]) >= 0


@pytest.mark.parametrize("model", CAPTIONERS)
def test_captioner_returns_caption_and_a_map_per_word(client: TestClient, model: str) -> None:
    s, png = scene()
    r = post(client, png, model=model, name="scene.png")
    assert r.status_code == 200, r.text[:500]
    body = ImageAttentionResponse.model_validate(r.json())
    assert body.caption is not None and body.output_tokens == body.caption.split()
    relations = {"to", "the", "left", "right", "of", "above", "below", "and"}
    assert set(body.output_tokens) <= set(OBJECT_NAMES) | relations | {"a", "an"}  # the caption template
    assert set(body.output_tokens) & {o.name for o in s.objects}  # names something that is there
    assert body.image_size == [224, 224] and body.input_size == [224, 224] and body.grid == [16, 16]
    assert "output_tokens[step]" in body.covers
    maps = r.json()["maps"]
    T = len(body.output_tokens)
    assert_spatial(maps, T)
    config = json.loads((WEIGHTS_DIR / model / "config.json").read_text())
    assert body.pointing_layer == config.get("pointing_layer")  # the layer evaluation chose; the page opens it
    if model == "captioner-sat":
        assert body.pointing_layer is None
        assert body.gates is not None and len(body.gates) == T and all(0 <= g <= 1 for g in body.gates)
        assert len(maps) == T and all(m["layer"] is None and m["head"] is None for m in maps)
    else:
        assert body.gates is None
        assert len(maps) == T * 3 * (4 + 1)  # 3 layers x (4 heads + their mean)
        step0 = np.array([m["values"] for m in maps if m["step"] == 0 and m["layer"] == 2 and m["head"] is not None])
        mean0 = next(m for m in maps if m["step"] == 0 and m["layer"] == 2 and m["head"] is None)
        assert np.allclose(step0.mean(axis=0), mean0["values"], atol=2e-6)


def test_captioner_layer_head_slice_and_bad_index(client: TestClient) -> None:
    _, png = scene()
    r = post(client, png, model="captioner-transformer", name="scene.png", layers="2", heads="1")
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert {(m["layer"], m["head"]) for m in body["maps"]} == {(2, 1), (2, None)}
    assert len(body["maps"]) == 2 * len(body["output_tokens"])
    r = post(client, png, model="captioner-transformer", name="scene.png", layers="3")
    assert r.status_code == 422 and "layers 0-2" in r.json()["detail"]


def test_caption_response_shape_without_trained_weights() -> None:
    """image_response on a hand-made captioner output: runs even before the captioners are trained."""
    import torch

    from app.services.serialize import image_response
    from models.contract import ImageAttentionOutput
    from models.serve.images import preprocess_image

    image = preprocess_image(encode(photo(size=(300, 200)), "PNG"))
    spatial = torch.rand(3, 2, 4, 16, 16)
    spatial = spatial / spatial.sum((-2, -1), keepdim=True)  # (T, L, H, h, w), each map sums to 1
    output = ImageAttentionOutput(
        image=image, grid=(16, 16), tokens=("a", "dog", "."), caption="a dog .", spatial=spatial, gates=None,
        patch_norms=torch.ones(16, 16), known_objects=("dog",),
    )
    body = ImageAttentionResponse.model_validate(image_response("cap", output)).model_dump()
    assert body["caption"] == "a dog ." and body["output_tokens"] == ["a", "dog", "."]
    assert body["image_size"] == [200, 300] and body["artifact_patches"] == []
    assert len(body["maps"]) == 3 * 2 * 5
    assert_spatial(body["maps"], 3)
    one = image_response("cap", output, layers=[1], heads=[3])
    assert [(m["step"], m["layer"], m["head"]) for m in one["maps"]][:2] == [(0, 1, 3), (0, 1, None)]
    single = ImageAttentionOutput(
        image=image, grid=(16, 16), tokens=("a",), caption="a", spatial=spatial[:1, :1, :1], gates=torch.ones(1),
        patch_norms=torch.ones(16, 16), known_objects=(),
    )
    maps = image_response("sat", single)["maps"]
    assert [(m["step"], m["layer"], m["head"]) for m in maps] == [(0, None, None)]


def test_image_output_contract_checks_its_shapes() -> None:
    """ImageAttentionOutput refuses maps that do not fit its grid or tokens; with non_patch set, a spatial map
    plus the step's weight on the class token sums to 1, and the response says so."""
    import torch

    from app.services.serialize import image_response
    from models.contract import ClsAttentionMaps, ImageAttentionOutput
    from models.serve.images import preprocess_image

    image = preprocess_image(encode(photo(size=(300, 200)), "PNG"))
    weights = torch.rand(2, 1, 3, 16 * 16 + 1).softmax(-1)  # (T, L, H, 1 + h * w): class token first
    spatial, non_patch = weights[..., 1:].reshape(2, 1, 3, 16, 16), weights[..., 0]
    caption = {"image": image, "grid": (16, 16), "tokens": ("a", "dog"), "caption": "a dog"}
    body = image_response("hf", ImageAttentionOutput(**caption, spatial=spatial, non_patch=non_patch))
    assert "minus the weight the step puts on the encoder's non-patch tokens" in body["covers"]
    assert body["artifact_patches"] == [] and body["gates"] is None and body["pointing_layer"] is None
    assert len(body["maps"]) == 2 * (3 + 1)
    for bad in (
        {"spatial": spatial[:1]},  # 1 step for 2 tokens
        {"spatial": spatial[..., :8]},  # a 16 x 8 map on a 16 x 16 grid
        {"spatial": spatial, "non_patch": non_patch[:, :, :2]},
        {"spatial": spatial, "gates": torch.ones(3)},
        {"spatial": spatial, "cls_maps": ClsAttentionMaps(torch.zeros(1, 1, 16, 16), torch.ones(1, 1))},
    ):
        with pytest.raises(ValueError):
            ImageAttentionOutput(**caption, **bad)
    with pytest.raises(ValueError, match="neither|spatial maps"):
        ImageAttentionOutput(image=image, grid=(16, 16))  # no maps at all
    cls = ClsAttentionMaps(torch.zeros(2, 3, 16, 16), torch.ones(2, 3))
    with pytest.raises(ValueError, match="no caption"):
        ImageAttentionOutput(image=image, grid=(16, 16), cls_maps=cls, rollout_maps=cls, caption="a dog")
    with pytest.raises(ValueError, match="expected"):
        ImageAttentionOutput(image=image, grid=(8, 8), cls_maps=cls, rollout_maps=cls)


def test_a_cnn_grid_has_no_artifact_tokens_to_flag(client: TestClient) -> None:
    """Darcet et al.'s high-norm artifact tokens are a ViT's: captioner-sat-cnn's CNN cells get no rule and no
    flagged cells (the page then hides the note and its toggle), DINOv2 keeps its rule."""
    r = post(client, chelsea_jpeg(), model="captioner-sat-cnn")
    assert r.status_code == 200, r.text[:500]
    body = ImageAttentionResponse.model_validate(r.json())
    assert body.grid == [14, 14] and body.artifact_rule is None and body.artifact_patches == []
    assert "median" in (ImageAttentionResponse.model_validate(post(client, chelsea_jpeg()).json()).artifact_rule or "")
