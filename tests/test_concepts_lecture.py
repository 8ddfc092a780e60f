"""The /concepts lecture endpoints: structure and invariants of what the served models return (the
weights may be retrained, so no output string is asserted)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app.services.concepts_lecture import bottleneck, rnn_variant, saturation

SENTENCE = "In the beginning God created the heavens and the earth."
ROUNDING = 5e-6  # the wire rounds to 6 decimals


def test_bottleneck_reads_the_report(client: TestClient) -> None:
    r = client.get("/api/concepts/bottleneck")
    assert r.status_code == 200
    body = r.json()
    report = json.loads(Path("reports/translation_eval.json").read_text())["models"]
    rows = {row["model"]: row for row in body["models"]}
    assert body["baseline"] in rows and rows[body["baseline"]]["attention"] is False
    assert any(row["attention"] for row in body["models"])
    for model_id, row in rows.items():
        assert row["bleu"] == report[model_id]["bleu"]
        assert row["bleu_by_length"] == [report[model_id]["bleu_by_length"][b] for b in body["buckets"]]


def test_bottleneck_without_baseline_fails(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"models": {"rnn-dot-en-es": {"bleu": 1, "bleu_by_length": {"1-10": 1}}}}))
    with pytest.raises(ValueError, match="rnn-none-en-es"):
        bottleneck(path)


def test_rnn_variant_names() -> None:
    assert rnn_variant("rnn-scaled-dot-en-es") == "scaled_dot"
    assert rnn_variant("rnn-none-en-es") == "none"
    assert rnn_variant("transformer-en-es") is None and rnn_variant("rnn-bogus-en-es") is None


@pytest.mark.parametrize("step", [0, 2])
def test_bahdanau_step_is_softmax_of_scores_and_context_is_weighted_keys(client: TestClient, step: int) -> None:
    r = client.post("/api/concepts/bahdanau", json={"text": SENTENCE, "step": step})
    assert r.status_code == 200
    b = r.json()
    S = len(b["source_tokens"])
    assert b["source_tokens"][-1] == "</s>" and len(b["scores"]) == len(b["weights"]) == S
    scores, weights = np.array(b["scores"]), np.array(b["weights"])
    softmax = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    assert np.allclose(softmax, weights, atol=2e-5) and abs(weights.sum() - 1) < 1e-4
    keys = np.array(b["encoder_states"])
    assert keys.shape == (S, len(b["context"]))
    assert np.allclose(weights @ keys, b["context"], atol=1e-4)
    assert b["produced_token"] == b["output_tokens"][step]
    assert b["previous_token"] == ("<s>" if step == 0 else b["output_tokens"][step - 1])
    assert 0 < b["produced_probability"] <= 1


def test_bahdanau_step_matches_the_served_translation(client: TestClient) -> None:
    served = client.post("/api/attention/text", json={"model": "rnn-additive-en-es", "text": SENTENCE}).json()
    step = client.post("/api/concepts/bahdanau", json={"text": SENTENCE, "step": 1}).json()
    assert step["output_tokens"] == served["output_tokens"]
    row = next(m for m in served["maps"] if m["kind"] == "cross")["values"][1]
    assert np.allclose(row, step["weights"], atol=2e-6)


def test_bahdanau_step_past_the_end_shows_the_last_step(client: TestClient) -> None:
    r = client.post("/api/concepts/bahdanau", json={"text": SENTENCE, "step": 199})  # the schema allows up to 200
    assert r.status_code == 200
    b = r.json()
    assert b["step"] == len(b["output_tokens"]) - 1 and b["produced_token"] == b["output_tokens"][-1] == "</s>"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"text": SENTENCE, "step": -1}, "step"),
        ({"text": SENTENCE, "step": True}, "step"),
        ({"text": "word " * 60}, "at most"),
        ({"text": ""}, "text"),
        ({"text": SENTENCE, "extra": 1}, "Unknown field"),
    ],
)
def test_bahdanau_bad_input(client: TestClient, body: dict[str, object], fragment: str) -> None:
    r = client.post("/api/concepts/bahdanau", json=body)
    assert r.status_code == 422 and fragment in r.json()["detail"]


def test_score_functions_give_each_variants_map(client: TestClient) -> None:
    r = client.post("/api/concepts/score-functions", json={"text": SENTENCE})
    assert r.status_code == 200
    variants = r.json()["variants"]
    available = [v for v in variants if v["available"]]
    assert len(available) >= 2 and all(v["score"] != "none" for v in variants)
    assert len({v["score"] for v in variants}) == len(variants)
    for v in available:
        values = np.array(v["values"])
        assert values.shape == (len(v["row_tokens"]), len(v["col_tokens"]))
        assert np.allclose(values.sum(axis=1), 1, atol=1e-4) and v["formula"]


def test_saturation_raw_softmax_saturates_and_scaled_does_not() -> None:
    out = saturation([1, 16, 256, 1024], keys=10, trials=400, seed=0)
    raw = [row["raw"]["max_weight"] for row in out["dims"]]
    scaled = [row["scaled"]["max_weight"] for row in out["dims"]]
    assert raw == sorted(raw) and raw[-1] > 0.9
    assert max(scaled) - min(scaled) < 0.1
    for row in out["dims"]:
        assert row["raw"]["score_std"] == pytest.approx(math.sqrt(row["d"]), rel=0.15)
        assert row["scaled"]["score_std"] == pytest.approx(1, rel=0.15)
        assert sum(row["raw"]["example"]) == pytest.approx(1, abs=1e-5)
        assert 0 <= row["raw"]["entropy"] <= out["max_entropy"] + 1e-9
    assert saturation([4], 10, 5, 1) == saturation([4], 10, 5, 1) != saturation([4], 10, 5, 2)


def test_saturation_endpoint(client: TestClient) -> None:
    r = client.get("/api/concepts/saturation?keys=8&trials=50&seed=3")
    assert r.status_code == 200 and [row["d"] for row in r.json()["dims"]] == [1, 4, 16, 64, 256, 1024]
    assert client.get("/api/concepts/saturation?keys=1").status_code == 422
    assert client.get("/api/concepts/saturation?trials=1001").status_code == 422


def test_multihead_concatenates_heads_then_projects(client: TestClient) -> None:
    r = client.post("/api/concepts/multihead", json={"text": "the cat sat on the mat", "layer": 2, "query": 2})
    assert r.status_code == 200
    b = r.json()
    H, Dh, T = b["heads"], b["d_head"], len(b["tokens"])
    weights, values = np.array(b["weights"]), np.array(b["values"])
    assert weights.shape == (H, T) and values.shape == (H, T, Dh)
    assert np.allclose(weights.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(np.array(b["maps"])[:, 2], weights, atol=2e-6)
    heads = np.einsum("ht,htd->hd", weights, values)
    assert np.allclose(heads, b["head_outputs"], atol=1e-4)
    assert np.allclose(np.array(b["head_outputs"]).reshape(-1), b["concat"], atol=1e-6)
    out = client.app.state.registry.text_model("minilm-l6").encoder.layers[2].attention.out  # type: ignore[attr-defined]
    with torch.no_grad():
        projected = out(torch.tensor(b["concat"], dtype=torch.float32)).numpy()
    assert np.allclose(projected, b["output"], atol=1e-4)
    served = client.post("/api/attention/text", json={"model": "minilm-l6", "text": "the cat sat on the mat"}).json()
    for m in served["maps"]:
        if m["layer"] == 2:
            assert np.allclose(m["values"][2], weights[m["head"]], atol=2e-6)


@pytest.mark.parametrize(("layer", "query"), [(6, 0), (0, -1), (0, False), (0.5, 0)])
def test_multihead_bad_input(client: TestClient, layer: object, query: object) -> None:
    r = client.post("/api/concepts/multihead", json={"text": "the cat sat", "layer": layer, "query": query})
    assert r.status_code == 422
    assert ("layer" if layer != 0 else "query") in r.json()["detail"]


def test_multihead_query_past_the_end_is_the_last_token(client: TestClient) -> None:
    r = client.post("/api/concepts/multihead", json={"text": "the cat sat", "layer": 0, "query": 40})
    assert r.status_code == 200
    b = r.json()
    assert b["query"] == len(b["tokens"]) - 1 and b["tokens"][b["query"]] == "[SEP]"
    assert np.allclose(np.array(b["maps"])[:, b["query"]], b["weights"], atol=2e-6)


def test_decoder_layer_bound_is_the_models(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["DecoderRequest"]
    assert schema["properties"]["layer"]["maximum"] == 2  # transformer-en-es has 3 decoder layers
    assert client.post("/api/concepts/decoder", json={"text": SENTENCE, "layer": 3}).status_code == 422


def test_decoder_masked_and_cross_attention(client: TestClient) -> None:
    r = client.post("/api/concepts/decoder", json={"text": SENTENCE, "layer": 0})
    assert r.status_code == 200
    b = r.json()
    masked, cross = b["masked"], b["cross"]
    heads = np.array(masked["heads"])
    T = len(masked["row_tokens"])
    assert heads.shape[1:] == (T, T) and masked["col_tokens"][0] == "<s>"
    assert np.all(np.triu(heads, k=1) == 0) and masked["max_ahead"] == 0
    assert np.allclose(heads.sum(axis=-1), 1, atol=1e-5)
    assert np.allclose(heads.mean(axis=0), masked["mean"], atol=1e-5)
    c = np.array(cross["heads"])
    assert c.shape[1:] == (T, len(b["source_tokens"])) and np.allclose(c.sum(axis=-1), 1, atol=1e-5)
    assert cross["row_tokens"] == masked["row_tokens"]
    assert client.post("/api/concepts/decoder", json={"text": SENTENCE, "layer": b["layers"]}).status_code == 422


def test_captioning_one_map_per_word(client: TestClient) -> None:
    r = client.get("/api/concepts/captioning?model=captioner-sat&scene=1")
    assert r.status_code == 200
    b = r.json()
    maps = np.array(b["maps"])
    assert maps.shape == (len(b["tokens"]), *b["grid"])
    assert np.allclose(maps.sum(axis=(1, 2)) + np.array(b["non_patch"]), 1, atol=1e-4)
    assert b["image"].startswith("data:image/png;base64,") and b["reference"]
    assert b["gates"] is not None and len(b["gates"]) == len(b["tokens"])
    assert client.get("/api/concepts/captioning?model=minilm-l6").status_code == 422


def test_vit_class_token_and_rollout(client: TestClient) -> None:
    r = client.get("/api/concepts/vit?sample=coffee")
    assert r.status_code == 200
    b = r.json()
    h, w = b["grid"]
    cls, rollout = np.array(b["cls"]), np.array(b["rollout"])
    assert cls.shape == rollout.shape == (12, h, w)
    assert np.allclose(cls.sum(axis=(1, 2)) + np.array(b["cls_self"]), 1, atol=1e-4)
    assert np.allclose(rollout.sum(axis=(1, 2)) + np.array(b["rollout_self"]), 1, atol=1e-4)
    assert b["tokens"] >= h * w + 1 and b["patch_size"] == 14
    assert client.get("/api/concepts/vit?sample=nope").status_code == 404
