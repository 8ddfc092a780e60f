"""The shipped transformer-en-es weights, through the API: every kind of attention it has, the
decoder's mask, and the notes that state its measured quality."""

import json
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights" / "transformer-en-es"


def test_maps_of_every_kind_and_the_mask_holds(client: TestClient) -> None:
    r = client.post("/api/attention/text", json={"model": "transformer-en-es", "text": "We are eating bread."})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["output_text"] and body["output_tokens"][-1] == "</s>"
    kinds = [m["kind"] for m in body["maps"]]
    assert {k: kinds.count(k) for k in set(kinds)} == {"encoder_self": 12, "decoder_self": 12, "cross": 12}
    source, target = body["input_tokens"], body["output_tokens"]
    for m in body["maps"]:
        values = np.array(m["values"])
        rows = source if m["kind"] == "encoder_self" else target
        cols = target if m["kind"] == "decoder_self" else source
        assert values.shape == (len(rows), len(cols)) and m["shape"] == list(values.shape)
        np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-5)
        if m["kind"] == "decoder_self":
            # step t sees only the tokens before it: exactly 0 (not merely small) above the diagonal
            assert np.all(values[np.triu_indices(len(target), k=1)] == 0.0), (m["layer"], m["head"])
            assert values[0, 0] == 1.0  # the first step sees only <s>


def test_notes_state_the_measured_test_bleu() -> None:
    from models.catalog import TRANSFORMER_EN_ES, WEAK_BLEU

    metrics = json.loads((WEIGHTS / "metrics.json").read_text())
    bleu, everyday = metrics["test_greedy"]["bleu"], metrics["everyday_greedy"]["bleu"]
    assert f"BLEU {bleu:.1f} greedy on held-out Bible verses, {everyday:.1f} greedy" in TRANSFORMER_EN_ES.notes
    assert ("A weak model" in TRANSFORMER_EN_ES.notes) == (min(bleu, everyday) < WEAK_BLEU)
