"""attnviz.client against a live server, the export round trips (npz, CSV, JSON equal the API's values within
float16's tolerance), and `attnviz attend` in-process."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from attnviz.client import AttnvizError, Client

TEXT = "The cat sat on the mat."


def test_client_against_a_live_server(live_server: str, tmp_path: Path) -> None:
    with Client(live_server) as api:
        assert any(m["id"] == "minilm-l6" for m in api.models())
        result = api.attend("minilm-l6", TEXT, layers=[2])
        exact = api.http.post("/api/attention/text", json={"model": "minilm-l6", "text": TEXT, "layers": [2],
                                                             "encoding": "json"}).json()  # fmt: skip
        assert len(result.maps) == 12 and result.input_tokens == exact["input_tokens"]
        for m, e in zip(result.maps, exact["maps"], strict=True):
            assert m.values.dtype == np.float32 and m.values.shape == tuple(e["shape"])
            np.testing.assert_allclose(m.values, np.asarray(e["values"]), atol=1e-3)  # float16 on the wire
            np.testing.assert_allclose(m.values.sum(axis=1), 1.0, atol=5e-3)
        one = result.map(kind="self", layer=2, head=4)
        assert one.row_tokens[0] == "[CLS]" and one.name == "self/L2/H4"

        result.to_npz(tmp_path / "maps.npz")
        saved = np.load(tmp_path / "maps.npz")
        np.testing.assert_array_equal(saved["self/L2/H4"], one.values)
        assert list(saved["self/L2/H4:cols"]) == one.col_tokens and list(saved["input_tokens"]) == result.input_tokens
        rows = list(csv.reader(io.StringIO(result.to_csv(tmp_path / "maps.csv"))))
        assert rows[0] == ["kind", "layer", "head", "query", *result.maps[0].col_tokens]
        assert len(rows) == 12 * (1 + len(result.maps[0].row_tokens))
        block = 4 * (1 + len(one.row_tokens))  # head 4's block
        written = rows[block + 1 : block + 1 + len(one.row_tokens)]
        np.testing.assert_allclose([[float(v) for v in r[4:]] for r in written], one.values, atol=1e-5)
        result.to_json(tmp_path / "maps.json")
        assert json.loads((tmp_path / "maps.json").read_text())["maps"][4]["head"] == 4

        with pytest.raises(AttnvizError) as err:
            api.attend("gpt-9", TEXT)
        assert err.value.status == 404 and "gpt-9" in err.value.detail
        with pytest.raises(AttnvizError) as err:
            api.attend("minilm-l6", " ")
        assert err.value.status == 422

        link = api.save("minilm-l6", TEXT)
        again = api.saved(link["id"])
        np.testing.assert_array_equal(again.map(layer=2, head=4).values, one.values)
        api.delete(link["id"], link["delete_token"])
        with pytest.raises(AttnvizError) as err:
            api.saved(link["id"])
        assert err.value.status == 404


def test_cli_attend_writes_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("maps.npz", "maps.csv", "maps.json"):
        main(["attend", "--model", "minilm-l6", TEXT, "--out", str(tmp_path / name)])
        assert (tmp_path / name).stat().st_size > 0
    assert "72 maps of minilm-l6" in capsys.readouterr().err
    assert len([k for k in np.load(tmp_path / "maps.npz").files if ":" not in k and "tokens" not in k]) == 72
    with pytest.raises(SystemExit) as code:
        main(["attend", "--model", "gpt-9", TEXT, "--out", str(tmp_path / "x.npz")])
    assert code.value.code == 1 and "404: Unknown model 'gpt-9'" in capsys.readouterr().err
    for bad in (["--model", "minilm-l6", TEXT, "--out", "x.txt"], ["--model", "minilm-l6", "--out", "x.npz"],
                ["--model", "minilm-l6", TEXT, "--image", "nowhere.png", "--out", "x.npz"]):  # fmt: skip
        with pytest.raises(SystemExit) as code:
            main(["attend", *bad])
        assert code.value.code == 2


def test_api_answers_csv_and_npz(client) -> None:  # type: ignore[no-untyped-def]
    """format (or an Accept header) turns the answer into a file with the same numbers as its JSON."""
    body = {"model": "minilm-l6", "text": "=1+2 cat", "layers": [1], "heads": [0, 2]}
    exact = client.post("/api/attention/text", json=body).json()
    npz = client.post("/api/attention/text", json={**body, "format": "npz"})
    assert npz.status_code == 200 and npz.headers["content-type"] == "application/x-npz"
    assert 'filename="attnviz-minilm-l6.npz"' in npz.headers["content-disposition"]
    arrays = np.load(io.BytesIO(npz.content))
    for m in exact["maps"]:
        name = f"self/L1/H{m['head']}"
        np.testing.assert_allclose(arrays[name], np.asarray(m["values"]), atol=1e-6)
        assert list(arrays[f"{name}:cols"]) == m["col_tokens"]
    assert list(arrays["input_tokens"]) == exact["input_tokens"]
    by_accept = client.post("/api/attention/text", json=body, headers={"Accept": "text/csv"})
    assert by_accept.status_code == 200 and by_accept.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(by_accept.text)))
    tokens = exact["maps"][0]["col_tokens"]
    assert rows[0] == ["kind", "layer", "head", "query", *["'" + t if t[:1] in "=+-@" else t for t in tokens]]
    np.testing.assert_allclose([[float(v) for v in r[4:]] for r in rows[1 : 1 + len(tokens)]],
                               exact["maps"][0]["values"], atol=1e-5)  # fmt: skip
    assert client.post("/api/attention/text", json={**body, "format": "xlsx"}).status_code == 422
    assert client.post("/api/attention/text", json={**body, "model": "gpt-9", "format": "csv"}).status_code == 404


def test_client_and_cli_with_a_photo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """attend_image sends the photo and the layer/head lists as the form expects; save_image keeps the photo;
    `attnviz attend --image` writes the maps."""
    from app.api.routes.samples import sample_jpeg

    photo = tmp_path / "coffee.jpg"
    photo.write_bytes(sample_jpeg("coffee"))
    with Client.in_process() as api:
        result = api.attend_image("dinov2-s14", photo, layers=[11], heads=[0, 3])
        exact = api.http.post("/api/attention/image", data={"model": "dinov2-s14", "layers": "11", "heads": "0,3"},
                              files={"file": ("c.jpg", photo.read_bytes(), "image/jpeg")}).json()  # fmt: skip
        assert [(m.kind, m.layer, m.head) for m in result.maps] == [
            (m["kind"], m["layer"], m["head"]) for m in exact["maps"]
        ]
        head3 = result.map(kind="cls", layer=11, head=3)
        assert head3.values.shape == (16, 16)
        np.testing.assert_allclose(head3.values, next(
            np.asarray(m["values"]) for m in exact["maps"] if m["kind"] == "cls" and m["head"] == 3), atol=1e-3)
        ablated = api.attend_image("dinov2-s14", photo.read_bytes(), layers=[11], heads=[3], ablate=[[11, 3]])
        assert not np.allclose(ablated.map(kind="cls", layer=11, head=None).values,
                               result.map(kind="cls", layer=11, head=None).values)  # fmt: skip
        link = api.save_image("dinov2-s14", photo, layers=[11])
        assert api.saved_image(link["id"])[:3] == b"\xff\xd8\xff"  # a JPEG
        np.testing.assert_array_equal(api.saved(link["id"]).map(kind="cls", layer=11, head=3).values, head3.values)
        api.delete(link["id"], link["delete_token"])
        with pytest.raises(AttnvizError) as err:
            api.attend_image("dinov2-s14", b"not an image")
        assert err.value.status == 422
    main(["attend", "--model", "dinov2-s14", "--image", str(photo), "--out", str(tmp_path / "photo.npz")])
    assert "maps of dinov2-s14" in capsys.readouterr().err
    assert "cls/L11/H0" in np.load(tmp_path / "photo.npz").files


def test_image_api_answers_csv_and_npz(client) -> None:  # type: ignore[no-untyped-def]
    """format=csv|npz (or Accept) on /api/attention/image: the same numbers as the JSON, grid rows and columns named."""
    from app.api.routes.samples import sample_jpeg

    files = {"file": ("c.jpg", sample_jpeg("coffee"), "image/jpeg")}
    form = {"model": "dinov2-s14", "layers": "11", "heads": "2"}
    exact = client.post("/api/attention/image", data=form, files=files).json()
    npz = client.post("/api/attention/image", data={**form, "format": "npz"}, files=files)
    assert npz.status_code == 200 and npz.headers["content-type"] == "application/x-npz"
    arrays = np.load(io.BytesIO(npz.content))
    for m in exact["maps"]:
        name = f"{m['kind']}/L{m['layer']}/H{'mean' if m['head'] is None else m['head']}"
        np.testing.assert_allclose(arrays[name], np.asarray(m["values"]), atol=1e-6)
        assert list(arrays[f"{name}:rows"])[:2] == ["row 0", "row 1"]
    by_accept = client.post("/api/attention/image", data=form, files=files, headers={"Accept": "text/csv"})
    assert by_accept.status_code == 200 and by_accept.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(by_accept.text)))
    assert rows[0][:5] == ["kind", "layer", "head", "query", "col 0"] and rows[1][3] == "row 0"
    assert client.post("/api/attention/image", data={**form, "format": "xlsx"}, files=files).status_code == 422
