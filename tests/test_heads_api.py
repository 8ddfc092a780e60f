"""/api/heads: stored corpus analyses are listed and served, in the OpenAPI schema; bad names are 4xx."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.scale.corpus import Corpus
from app.scale.shards import analyse_shard
from app.scale.summary import write_outputs
from tests.test_analyze import HashModel

CORPUS = Corpus("toy", "toy sentences", ("a b c", "the cat sat .", "x y z w"))


@pytest.fixture(scope="module")
def heads_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    reports = tmp_path_factory.mktemp("reports")
    folder = reports / "heads" / "toy-model-toy"
    folder.mkdir(parents=True)
    write_outputs("toy-model", CORPUS, [analyse_shard(HashModel(), [0, 1, 2], list(CORPUS.sentences))], folder)
    broken = reports / "heads" / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json", encoding="utf-8")
    wrong_shape = reports / "heads" / "wrong-shape"
    wrong_shape.mkdir()
    (wrong_shape / "summary.json").write_text('{"model": "x"}', encoding="utf-8")
    with TestClient(create_app(Settings(reports_dir=reports))) as client:
        yield client


def test_lists_readable_analyses(heads_client: TestClient) -> None:
    response = heads_client.get("/api/heads")
    assert response.status_code == 200
    (info,) = response.json()  # the unreadable ones are left out (and logged)
    assert info["name"] == "toy-model-toy" and info["model"] == "toy-model" and info["kinds"] == ["self"]
    assert info["sentences"] == 3


def test_serves_one_analysis(heads_client: TestClient) -> None:
    response = heads_client.get("/api/heads/toy-model-toy")
    assert response.status_code == 200
    body = response.json()
    (kind,) = body["kinds"]
    assert (kind["layers"], kind["heads"]) == (2, 2)
    assert list(body["statistics"]) == list(kind["means"])
    assert len(kind["top"]) == 2 and len(kind["top"][0][0]) == len(body["statistics"])
    assert body["texts"]["1"] == "the cat sat ."


@pytest.mark.parametrize(
    ("name", "status"),
    [("nope", 404), ("..", 404), ("%2e%2e%2fsecret", 404), ("a" * 101, 422), ("-x", 422), ("broken", 500)],
)
def test_bad_names_are_clear_errors(heads_client: TestClient, name: str, status: int) -> None:
    response = heads_client.get(f"/api/heads/{name}")
    assert response.status_code == status
    assert isinstance(response.json()["detail"], str | list)
    assert "Traceback" not in response.text


def test_unexpected_summary_shape_is_a_json_error(heads_client: TestClient) -> None:
    response = heads_client.get("/api/heads/wrong-shape")
    assert response.status_code == 500
    assert "attnviz analyze" in response.json()["detail"]


def test_in_openapi_with_examples(heads_client: TestClient) -> None:
    schema = heads_client.get("/openapi.json").json()
    assert {"/api/heads", "/api/heads/{name}"} <= set(schema["paths"])
    components = schema["components"]["schemas"]
    assert components["HeadAnalysis"]["examples"] and components["HeadAnalysisInfo"]["examples"]
    health = components["HealthResponse"]["properties"]
    assert {"replicas", "replica"} <= set(health)


def test_health_reports_one_replica(heads_client: TestClient) -> None:
    body = heads_client.get("/api/health").json()
    assert body["status"] == "ok" and body["replicas"] == 1 and ":" in body["replica"]


def test_committed_samples_are_served(client: TestClient) -> None:
    """A fresh clone's /heads has something to draw: the samples under reports/heads/ (README: Heads over a corpus)."""
    listed = {a["name"]: a for a in client.get("/api/heads").json()}
    assert {"minilm-l6-mix-dev", "transformer-en-es-bible-test"} <= set(listed)
    assert listed["minilm-l6-mix-dev"]["sentences"] == 2000 and listed["minilm-l6-mix-dev"]["kinds"] == ["self"]
    body = client.get("/api/heads/transformer-en-es-bible-test").json()
    assert sorted(k["kind"] for k in body["kinds"]) == ["cross", "decoder_self", "encoder_self"]
    cross = next(k for k in body["kinds"] if k["kind"] == "cross")
    assert (cross["layers"], cross["heads"]) == (3, 4)
    assert all(-1 <= v <= 1 for row in cross["means"]["monotonicity"] for v in row)
