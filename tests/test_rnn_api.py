"""RNN translation models through the API, on tiny untrained models with a tiny SentencePiece vocabulary."""

import dataclasses
import io
import subprocess
import sys
from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.services.registry import ModelRegistry
from models.catalog import CATALOG, RNN_CATALOG, rnn_spec
from models.nets.seq2seq_rnn import Seq2SeqConfig, Seq2SeqRNN
from models.readouts import word_groups
from models.serve.rnn import NO_ATTENTION, RNNTranslator

SENTENCES = ["we are eating bread", "the bread is good", "we are here", "they eat the good bread"] * 20


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("rnn")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES), model_writer=model, vocab_size=24, model_type="unigram",
        pad_id=0, unk_id=1, bos_id=2, eos_id=3, character_coverage=1.0,
    )
    out = {}
    for attention in ("additive", "none"):
        torch.manual_seed(0)
        config = Seq2SeqConfig(vocab_size=24, emb_dim=16, enc_hidden=8, dec_hidden=16, attn_dim=8,
                               attention=attention)
        folder = root / attention
        Seq2SeqRNN(config).save_pretrained(folder)
        (folder / "spm.model").write_bytes(model.getvalue())
        out[attention] = folder
    return out


@pytest.fixture(scope="module")
def client(folders: dict[str, Path]):  # type: ignore[no-untyped-def]
    specs = [dataclasses.replace(rnn_spec(name), loader_args=(str(folder),), requires_files=())
             for name, folder in folders.items()]
    with TestClient(create_app(registry=ModelRegistry([*CATALOG, *specs]))) as c:
        yield c


def test_every_family_member_is_declared() -> None:
    ids = {s.id for s in RNN_CATALOG}
    for name in ("additive", "dot", "general", "concat", "location", "scaled-dot", "none"):
        assert f"rnn-{name}-en-es" in ids


def test_untrained_variants_are_listed_as_unavailable_with_the_reason() -> None:
    registry = ModelRegistry([dataclasses.replace(rnn_spec("dot"), requires_files=("models/weights/nope/x",))])
    status = registry.status("rnn-dot-en-es")
    assert not status.available and "not been trained" in (status.reason or "")


def test_translation_with_cross_attention_per_generated_step(client: TestClient) -> None:
    r = client.post("/api/attention/text", json={"model": "rnn-additive-en-es", "text": "we are eating bread ☃"})
    assert r.status_code == 200
    body = r.json()
    assert body["input_tokens"][-1] == "</s>" and "<unk:☃>" in body["input_tokens"]
    assert isinstance(body["output_text"], str) and body["note"] is None
    (cross,) = body["maps"]
    assert (cross["kind"], cross["layer"], cross["head"]) == ("cross", 0, 0)
    assert cross["shape"] == [len(body["output_tokens"]), len(body["input_tokens"])]
    assert all(abs(sum(row) - 1) < 1e-4 for row in cross["values"])


def test_beam_option(client: TestClient) -> None:
    r = client.post("/api/attention/text", json={"model": "rnn-additive-en-es", "text": "we are here", "beam": 4})
    assert r.status_code == 200
    assert r.json()["maps"][0]["shape"][0] == len(r.json()["output_tokens"])
    too_wide = client.post("/api/attention/text", json={"model": "rnn-additive-en-es", "text": "x", "beam": 9})
    assert too_wide.status_code == 422
    other = client.post("/api/attention/text", json={"model": "minilm-l6", "text": "we are here", "beam": 2})
    assert other.status_code == 422 and "no option 'beam'" in other.json()["detail"]


def test_word_level_view_merges_pieces(client: TestClient) -> None:
    body = {"model": "rnn-additive-en-es", "text": "they eat the good bread", "word_level": True}
    r = client.post("/api/attention/text", json=body)
    assert r.status_code == 200
    (cross,) = r.json()["maps"]
    assert cross["col_tokens"] == ["they", "eat", "the", "good", "bread", "</s>"]
    assert all(abs(sum(row) - 1) < 1e-4 for row in cross["values"])


def test_baseline_has_no_maps_and_says_why(client: TestClient) -> None:
    r = client.post("/api/attention/text", json={"model": "rnn-none-en-es", "text": "we are eating bread"})
    assert r.status_code == 200
    body = r.json()
    assert body["maps"] == [] and body["note"] == NO_ATTENTION and body["output_tokens"]


def test_word_groups() -> None:
    pieces = ("▁we", "▁ea", "ting", "▁", "s", "le", "pt", ".", "</s>")
    assert word_groups(pieces)[1] == ("we", "eating", "slept", ".", "</s>")
    assert word_groups(("[CLS]", "un", "##believ", "##able", "[SEP]"))[1] == ("[CLS]", "unbelievable", "[SEP]")


def test_translator_loads_from_a_folder(folders: dict[str, Path]) -> None:
    out = RNNTranslator.from_folder(folders["additive"]).attend("we are here")
    assert out.stacks[0].weights.shape[:2] == (1, 1)


def test_service_starts_without_importing_torch() -> None:
    code = "import sys, app.main; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
