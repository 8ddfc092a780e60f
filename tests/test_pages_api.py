"""The API pieces the pages need: distinct documented errors, the report index and reports, model options."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app

ERROR_CODES = ("400", "404", "413", "422", "503")


@pytest.mark.parametrize("path", ["/api/attention/text", "/api/attention/image"])
def test_docs_show_a_distinct_example_per_error_code(client: TestClient, path: str) -> None:
    responses = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
    examples = [responses[code]["content"]["application/json"]["example"]["detail"] for code in ERROR_CODES]
    assert len(set(examples)) == len(ERROR_CODES), examples
    assert all(isinstance(e, str) and e.endswith(".") for e in examples)


def test_models_say_their_options_and_readable_layer(client: TestClient) -> None:
    models = {m["id"]: m for m in client.get("/api/models").json()}
    assert models["marian-en-pt"]["default_layer"] == 1
    assert models["marian-en-pt"]["options"] == ["ablate", "attribution"]
    assert models["minilm-l6"]["default_layer"] is None
    assert models["rnn-additive-en-es"]["options"][0] == "beam"
    assert "ablate" not in models["rnn-additive-en-es"]["options"]  # one attention, no heads to switch off
    assert models["dinov2-s14"]["options"] == ["ablate"]
    assert "ablate" not in models["captioner-sat"]["options"]


@pytest.fixture
def reports(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    with TestClient(create_app(Settings(reports_dir=tmp_path))) as c:
        yield c, tmp_path


def test_report_index_and_the_new_reports(reports: tuple[TestClient, Path]) -> None:
    client, folder = reports
    assert client.get("/api/reports").json() == {
        "translation": False,
        "everyday": False,
        "captions": False,
        "real-photos": False,
        "gallery": False,
        "marian-parity": False,
        "faithfulness": False,
    }
    r = client.get("/api/reports/everyday")
    assert r.status_code == 404 and "make eval" in r.json()["detail"]
    assert client.get("/api/reports/real-photos").status_code == 404
    (folder / "real_photo_eval.json").write_text(json.dumps({"splits": {"eval": {"photos": 35}}}))
    assert client.get("/api/reports").json()["real-photos"] is True
    assert client.get("/api/reports/real-photos").json()["splits"]["eval"]["photos"] == 35
    (folder / "everyday_eval.json").write_text(json.dumps({"pairs": 3, "systems": {"apertium": {"bleu": 9.5}}}))
    (folder / "bench.json").write_text(json.dumps({"machine": "here", "throughput": []}))
    assert client.get("/api/reports").json()["everyday"] is True
    assert client.get("/api/reports/everyday").json()["systems"]["apertium"]["bleu"] == 9.5
    r = client.get("/api/reports/marian-parity")  # bench.json without Marian figures
    assert r.status_code == 404 and "make bench" in r.json()["detail"]
    parity = [{"direction": "en-pt", "sentences": 2, "identical": 2}]
    (folder / "bench.json").write_text(json.dumps({"machine": "here", "marian": parity}))
    assert client.get("/api/reports/marian-parity").json() == {"marian": parity, "machine": "here"}
    (folder / "bench.json").write_text("[1, 2]")
    r = client.get("/api/reports/marian-parity")
    assert r.status_code == 500 and "make bench" in r.json()["detail"]
