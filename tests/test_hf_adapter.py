"""The generic Hugging Face adapter on tiny random models of each kind, built here (no download)."""

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from models.catalog import hf_spec
from models.formats.hf_folder import inspect_folder
from models.serve.hf_text import HFAttentionModel

WORDS = ["<pad>", "<s>", "</s>", "<unk>", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far", "."]
TEXT = "the cat sat on the mat ."


def save_tokenizer(folder: Path) -> None:
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.save_pretrained(folder)


def build(folder: Path, model: torch.nn.Module) -> Path:
    model.save_pretrained(folder)  # type: ignore[operator]
    save_tokenizer(folder)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("hf")
    v = len(WORDS)
    common = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    return {
        "bert": build(root / "bert", BertModel(BertConfig(
            vocab_size=v, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32,
            max_position_embeddings=32, **common))),
        "gpt2": build(root / "gpt2", GPT2LMHeadModel(GPT2Config(
            vocab_size=v, n_embd=16, n_layer=2, n_head=2, n_positions=32, **common))),
        "bart": build(root / "bart", BartForConditionalGeneration(BartConfig(
            vocab_size=v, d_model=16, encoder_layers=2, decoder_layers=3, encoder_attention_heads=2,
            decoder_attention_heads=4, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
            decoder_start_token_id=2, forced_bos_token_id=None, **common))),
        "t5": build(root / "t5", T5ForConditionalGeneration(T5Config(
            vocab_size=v, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=4,
            decoder_start_token_id=0, pad_token_id=0, eos_token_id=2))),
    }


def assert_distributions(weights: torch.Tensor) -> None:
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-5)
    assert (weights >= 0).all()


def test_folder_inspection(folders: dict[str, Path]) -> None:
    assert inspect_folder(folders["bert"]).kind == "encoder"
    assert inspect_folder(folders["gpt2"]).kind == "decoder"
    bart = inspect_folder(folders["bart"])
    assert (bart.kind, bart.layers, bart.heads) == ("encoder-decoder", 2, 2)
    assert (bart.decoder_layers, bart.decoder_heads) == (3, 4)
    spec = hf_spec("my-bart", folders["bart"])
    assert spec.task == "translation" and spec.shapes()[2] == ("cross", 3, 4)
    with pytest.raises(ValueError, match="no config.json"):
        inspect_folder(folders["bart"].parent)


def test_encoder_matches_its_own_output_attentions(folders: dict[str, Path]) -> None:
    adapter = HFAttentionModel.from_folder(folders["bert"])
    out = adapter.attend(TEXT)
    (stack,) = out.stacks
    assert stack.kind == "self" and list(out.input_tokens) == TEXT.split()
    ids = adapter.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    reference = BertModel.from_pretrained(folders["bert"], attn_implementation="eager").eval()
    with torch.no_grad():
        expected = torch.stack(reference(ids, output_attentions=True).attentions)[:, 0]
    assert torch.allclose(stack.weights, expected, atol=1e-6)
    assert_distributions(stack.weights)


def test_decoder_only_is_causal(folders: dict[str, Path]) -> None:
    out = HFAttentionModel.from_folder(folders["gpt2"]).attend(TEXT)
    (stack,) = out.stacks
    assert stack.kind == "decoder_self" and stack.weights.shape == (2, 2, 7, 7)
    assert torch.all(stack.weights.triu(diagonal=1) == 0)  # no query sees a later token
    assert_distributions(stack.weights)


@pytest.mark.parametrize("name", ["bart", "t5"])
def test_encoder_decoder_maps_equal_step_by_step_generation(folders: dict[str, Path], name: str) -> None:
    adapter = HFAttentionModel.from_folder(folders[name])
    adapter.max_new_tokens = 6
    out = adapter.attend(TEXT)
    kinds = {s.kind: s for s in out.stacks}
    T, S = len(out.output_tokens or ()), len(out.input_tokens)
    assert 1 <= T <= 6
    assert kinds["cross"].weights.shape[2:] == (T, S)
    assert kinds["decoder_self"].weights.shape[2:] == (T, T)
    assert torch.all(kinds["decoder_self"].weights.triu(diagonal=1) == 0)
    for stack in kinds.values():
        assert_distributions(stack.weights)
    # Reference: the model's own incremental generation, one query per step, with a KV cache.
    ids = adapter.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = adapter.model.generate(
            input_ids=ids, max_new_tokens=6, num_beams=1, do_sample=False,
            output_attentions=True, return_dict_in_generate=True,
        )
    assert len(ref.cross_attentions) == T
    for t in range(T):
        cross_t = torch.stack([layer[0, :, -1] for layer in ref.cross_attentions[t]])  # (L, H, S)
        self_t = torch.stack([layer[0, :, -1] for layer in ref.decoder_attentions[t]])  # (L, H, t + 1)
        assert torch.allclose(kinds["cross"].weights[:, :, t], cross_t, atol=1e-5)
        assert torch.allclose(kinds["decoder_self"].weights[:, :, t, : t + 1], self_t, atol=1e-5)
    assert torch.allclose(kinds["encoder_self"].weights, torch.stack(ref.encoder_attentions)[:, 0], atol=1e-6)


def test_registered_folders_are_served_through_the_api(folders: dict[str, Path]) -> None:
    from fastapi.testclient import TestClient

    from app.core.config import Settings
    from app.main import create_app

    settings = Settings(hf_models={"tiny-bart": folders["bart"], "tiny-gpt2": folders["gpt2"], "nothing": Path("/no")})
    with TestClient(create_app(settings)) as client:
        listing = {m["id"]: m for m in client.get("/api/models").json()}
        assert "nothing" not in listing  # unreadable folders are logged and left out
        assert listing["tiny-bart"]["task"] == "translation" and listing["tiny-gpt2"]["task"] == "decoder"
        r = client.post("/api/attention/text", json={"model": "tiny-bart", "text": TEXT, "kinds": ["cross"]})
        assert r.status_code == 200
        body = r.json()
        assert len(body["maps"]) == 3 * 4 and body["output_tokens"]
        assert all(m["row_tokens"] == body["output_tokens"] for m in body["maps"])
        r = client.post("/api/attention/text", json={"model": "tiny-gpt2", "text": TEXT})
        assert r.status_code == 200 and {m["kind"] for m in r.json()["maps"]} == {"decoder_self"}


def test_cli_hf_model_argument(folders: dict[str, Path]) -> None:
    import argparse

    from app.cli import parse_hf_models

    parser = argparse.ArgumentParser()
    assert parse_hf_models([f"mine={folders['bert']}"], parser) == {"mine": str(folders["bert"].resolve())}
    with pytest.raises(SystemExit):
        parse_hf_models(["no-equals-sign"], parser)
    with pytest.raises(SystemExit):
        parse_hf_models([f"x={folders['bert'].parent}"], parser)
