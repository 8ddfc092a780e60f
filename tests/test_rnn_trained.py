"""The shipped rnn-additive-en-es weights: the classic example aligns "pan" with "bread"."""

from fastapi.testclient import TestClient


def test_we_are_eating_bread(client: TestClient) -> None:
    r = client.post("/api/attention/text", json={"model": "rnn-additive-en-es", "text": "We are eating bread."})
    assert r.status_code == 200
    body = r.json()
    assert "pan" in body["output_text"].rstrip(".").split()
    (cross,) = body["maps"]
    pan_rows = [i for i, token in enumerate(cross["row_tokens"]) if token == "▁pan"]
    assert pan_rows
    for i in pan_rows:
        row = cross["values"][i]
        assert cross["col_tokens"][row.index(max(row))] == "▁bread"


def test_word_level_and_beam_on_the_trained_model(client: TestClient) -> None:
    body = {"model": "rnn-additive-en-es", "text": "We eat bread.", "beam": 5, "word_level": True}
    r = client.post("/api/attention/text", json=body)
    assert r.status_code == 200
    (cross,) = r.json()["maps"]
    assert cross["col_tokens"] == ["We", "eat", "bread", ".", "</s>"]
    assert "pan" in cross["row_tokens"]
    row = cross["values"][cross["row_tokens"].index("pan")]
    assert cross["col_tokens"][row.index(max(row))] == "bread"


def test_notes_carry_the_measured_bleu_and_call_weak_models_weak() -> None:
    """Every trained translation variant states its own test BLEU (metrics.json) where users pick models."""
    import json
    from pathlib import Path

    from models.catalog import RNN_CATALOG, WEAK_BLEU

    trained = 0
    for spec in RNN_CATALOG:
        metrics_path = Path(__file__).resolve().parents[1] / "models" / "weights" / spec.id / "metrics.json"
        if not metrics_path.exists():
            assert "BLEU" not in spec.notes
            continue
        trained += 1
        metrics = json.loads(metrics_path.read_text())
        bleu, everyday = metrics["test_greedy"]["bleu"], metrics["everyday_greedy"]["bleu"]
        assert f"BLEU {bleu:.1f} greedy" in spec.notes, spec.id
        assert f"{everyday:.1f} greedy on the everyday test set" in spec.notes, spec.id
        assert "everyday English-Spanish mix" in spec.source, spec.id
        assert ("A weak model" in spec.notes) == (min(bleu, everyday) < WEAK_BLEU), spec.id
        assert ("no maps" in spec.notes) == (spec.id == "rnn-none-en-es"), spec.id
    assert trained >= 2  # additive and the baseline at least
