"""POST /api/attention/text and friends through the real app (TestClient)."""

import json
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from app.schemas import ModelInfo, TextAttentionResponse

SENTENCE = "The cat sat on the mat."
TOKENS = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]


def test_health(client: TestClient) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["replicas"] == 1  # `serve --ray --replicas N` reports N


def test_models_lists_minilm(client: TestClient) -> None:
    r = client.get("/api/models")
    assert r.status_code == 200
    infos = {m["id"]: ModelInfo.model_validate(m) for m in r.json()}
    minilm = infos["minilm-l6"]
    assert minilm.available and minilm.task == "encoder"
    assert (minilm.layers, minilm.heads, minilm.attention_kinds) == (6, 12, ["self"])


def test_minilm_returns_72_maps_that_are_distributions(client: TestClient) -> None:
    r = client.post("/api/attention/text", json={"model": "minilm-l6", "text": SENTENCE})
    assert r.status_code == 200
    body = TextAttentionResponse.model_validate(r.json())
    assert body.input_tokens == TOKENS
    assert body.output_tokens is None and body.output_text is None
    assert len(body.maps) == 72
    assert {(m.layer, m.head) for m in body.maps} == {(layer, head) for layer in range(6) for head in range(12)}
    for m in body.maps:
        assert m.kind == "self"
        assert m.shape == [9, 9]
        assert m.row_tokens == TOKENS and m.col_tokens == TOKENS
        assert len(m.values) == 9 and all(len(row) == 9 for row in m.values)
        for row in m.values:
            assert abs(sum(row) - 1) < 1e-4
            assert min(row) >= 0


def test_layer_and_head_slice(client: TestClient) -> None:
    r = client.post(
        "/api/attention/text", json={"model": "minilm-l6", "text": SENTENCE, "layers": [5, 0], "heads": [3]}
    )
    assert r.status_code == 200
    assert [(m["layer"], m["head"]) for m in r.json()["maps"]] == [(0, 3), (5, 3)]


def test_same_maps_in_slice_and_full(client: TestClient) -> None:
    full = client.post("/api/attention/text", json={"model": "minilm-l6", "text": SENTENCE}).json()
    one = client.post(
        "/api/attention/text", json={"model": "minilm-l6", "text": SENTENCE, "layers": [2], "heads": [7]}
    ).json()
    expected = next(m for m in full["maps"] if (m["layer"], m["head"]) == (2, 7))
    assert one["maps"] == [expected]


def test_unicode_and_markup_are_tokens_not_errors(client: TestClient) -> None:
    r = client.post("/api/attention/text", json={"model": "minilm-l6", "text": "café <b>naïve</b> 日本 🙂"})
    assert r.status_code == 200
    assert "<" in r.json()["input_tokens"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"model": "minilm-l6", "text": ""}, 422, "empty"),
        ({"model": "minilm-l6", "text": "   \n "}, 422, "empty"),
        ({"model": "minilm-l6", "text": "a" * 20_000}, 422, "limit is 2000"),
        ({"model": "gpt-9", "text": "hello"}, 404, "Unknown model 'gpt-9'"),
        ({"model": "minilm-l6", "text": 5}, 422, "text: Input should be a valid string"),
        ({"model": "minilm-l6"}, 422, "text: Field required"),
        ({"text": "hello"}, 422, "model: Field required"),
        ({"model": "minilm-l6", "text": "hi", "layers": [6]}, 422, "layer 6 does not exist"),
        ({"model": "minilm-l6", "text": "hi", "heads": [-1]}, 422, "heads.0: Input should be greater than or equal"),
        ({"model": "minilm-l6", "text": "hi", "layers": [True]}, 422, "layers.0"),
        ({"model": "minilm-l6", "text": "hi", "word_level": "yes"}, 422, "word_level"),
        ({"model": "minilm-l6", "text": "hi", "layers": "all"}, 422, "layers"),
        ({"model": "minilm-l6", "text": "hi", "colour": "red"}, 422, "Unknown field 'colour'"),
        ([1, 2], 422, "JSON object"),
    ],
)
def test_bad_requests_get_a_readable_4xx(client: TestClient, body: object, status: int, fragment: str) -> None:
    r = client.post("/api/attention/text", json=body)
    assert r.status_code == status
    detail = r.json()["detail"]
    assert isinstance(detail, str) and fragment in detail


def test_invalid_utf8_body(client: TestClient) -> None:
    raw = b'{"model": "minilm-l6", "text": "caf\xe9"}'
    r = client.post("/api/attention/text", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "not valid UTF-8" in r.json()["detail"]


def test_broken_json(client: TestClient) -> None:
    r = client.post("/api/attention/text", content=b'{"model": ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "not valid JSON" in r.json()["detail"]


def test_oversized_body_refused_before_reading(client: TestClient) -> None:
    r = client.post(
        "/api/attention/text", content=b"x" * 200_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]


def test_oversized_chunked_body_refused_while_reading(client: TestClient) -> None:
    # No Content-Length: the limit must hold while the chunks arrive.
    chunks = iter([b"x" * 40_000, b"x" * 40_000, b"x" * 40_000])
    r = client.post("/api/attention/text", content=chunks, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "over the limit of 65536 bytes" in r.json()["detail"]


@pytest.mark.parametrize("model", ["minilm-l6", "marian-en-pt"])
def test_beam_of_one_is_greedy_for_every_model(client: TestClient, model: str) -> None:
    body = {"model": model, "text": "we are here"}
    greedy = client.post("/api/attention/text", json={**body, "beam": 1})
    assert greedy.status_code == 200 and greedy.json() == client.post("/api/attention/text", json=body).json()
    ablated = client.post("/api/attention/text", json={**body, "beam": 1, "ablate": [[0, 0]]})
    assert ablated.status_code == 200  # greedy is not beam search: it combines with head ablation


# Requests near each model's limits: the OpenAPI schema (with its per-model rules) and the server must agree on
# every one (valid and 200, or invalid and 4xx).
AGREEMENT = [
    {"model": "minilm-l6", "text": "hi", "beam": 1},
    {"model": "minilm-l6", "text": "hi", "beam": 2},
    {"model": "minilm-l6", "text": "hi", "kinds": ["cross"]},
    {"model": "minilm-l6", "text": "hi", "kinds": ["cross", "self"], "layers": [5], "heads": [11]},
    {"model": "minilm-l6", "text": "hi", "layers": [6]},
    {"model": "minilm-l6", "text": "hi", "heads": [12]},
    {"model": "minilm-l6", "text": "hi", "ablate": [[5, 11], ["self", 0, 0]]},
    {"model": "minilm-l6", "text": "hi", "ablate": [["cross", 0, 0]]},
    {"model": "minilm-l6", "text": "hi", "reference": "eflomal"},
    {"model": "marian-en-pt", "text": "hi", "kinds": ["cross"], "layers": [1]},
    {"model": "marian-en-pt", "text": "hi", "kinds": ["cross"], "layers": [2]},
    {"model": "marian-en-pt", "text": "hi", "kinds": ["cross", "encoder_self"], "layers": [5]},
    {"model": "marian-en-pt", "text": "hi", "kinds": [], "layers": [0]},
    {"model": "marian-en-pt", "text": "hi", "ablate": [["cross", 1, 7]]},
    {"model": "marian-en-pt", "text": "hi", "ablate": [["cross", 2, 0]]},
    {"model": "rnn-additive-en-es", "text": "hi", "beam": 3, "reference": "eflomal"},
    {"model": "rnn-additive-en-es", "text": "hi", "ablate": [[0, 0]]},
    {"model": "rnn-additive-en-es", "text": "hi", "heads": [1]},
    {"model": "rnn-none-en-es", "text": "hi", "layers": []},
    {"model": "rnn-none-en-es", "text": "hi", "layers": [0]},
    {"model": "transformer-en-es", "text": "hi", "kinds": ["decoder_self"], "layers": [2], "heads": [3]},
    {"model": "transformer-en-es", "text": "hi", "layers": [3]},
    {"model": "dinov2-s14", "text": "hi"},
    {"model": "minilm-l6", "text": "\u3000\u0085"},
    {"model": "minilm-l6", "text": "\ufeff"},  # not white space to Python: a (very short) text
]


def request_schema(client: TestClient, name: str) -> Any:
    """A validator of the OpenAPI document's schema `name` (its $refs resolved in the document)."""
    components = client.get("/openapi.json").json()["components"]
    return jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": components})


@pytest.mark.parametrize("body", AGREEMENT, ids=lambda body: json.dumps(body))
def test_schema_and_server_agree(client: TestClient, body: dict[str, Any]) -> None:
    valid = request_schema(client, "TextAttentionRequest").is_valid(body)
    r = client.post("/api/attention/text", json=body)
    assert (r.status_code == 200) == valid, (r.status_code, r.text[:200])


def test_too_many_tokens_is_a_422(client: TestClient) -> None:
    # 1,800 characters but ~900 WordPiece tokens: over BERT's 512 positions.
    r = client.post("/api/attention/text", json={"model": "minilm-l6", "text": "a, " * 600})
    assert r.status_code == 422
    assert "at most 512" in r.json()["detail"]


def test_security_headers(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_page_and_assets_are_local(client: TestClient) -> None:
    page = client.get("/").text
    assert "<script" in page and "cdn" not in page.lower() and "http" not in page.split("<body")[1]
    plotly_js = client.get("/vendor/plotly.min.js")
    assert plotly_js.status_code == 200 and len(plotly_js.content) > 1_000_000
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_openapi_documents_every_endpoint_with_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) >= {"/api/health", "/api/models", "/api/attention/text"}
    components = schema["components"]["schemas"]
    for name in ("HealthResponse", "ModelInfo", "TextAttentionRequest", "TextAttentionResponse", "ErrorResponse"):
        text = str(components[name])
        assert "example" in text, name
    errors = paths["/api/attention/text"]["post"]["responses"]
    assert {"404", "422", "503"} <= set(errors)
    assert errors["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
