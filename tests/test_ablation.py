"""Head ablation: a head's output zeroed before the output projection removes exactly its contribution,
no ablation is exactly the unablated run, and the teacher-forced path of models/explain agrees with the
served decoder under the same ablation."""

from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from fastapi.testclient import TestClient

from models.explain.marian import MarianScorer
from models.nets.bert import BertConfig, BertEncoder
from models.nets.marian import EOS, DecoderStep, MarianConfig, MarianTiny
from models.nets.multihead import MultiHeadAttention

TINY = MarianConfig(vocab_size=24, d_model=16, n_heads=4, encoder_layers=2, decoder_layers=2, d_ffn=32)


def test_zeroing_a_head_removes_exactly_its_share_of_the_output_projection() -> None:
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=8, n_heads=2)  # Dh = 4
    query, keys = torch.randn(1, 3, 8), torch.randn(1, 5, 8)
    full, weights = attention(query, keys)
    ablated, ablated_weights = attention(query, keys, head_mask=torch.tensor([1.0, 0.0]))
    # By hand: head 1's context (weights[1] @ v[1]) reaches the output through columns 4..7 of W_out.
    v = attention.value(keys).view(1, 5, 2, 4)[0, :, 1]  # (S, Dh) head 1's values
    head_1 = weights[0, 1] @ v  # (T, Dh)
    expected = full - head_1 @ attention.out.weight[:, 4:].T
    assert torch.allclose(ablated, expected, atol=1e-6)
    assert torch.equal(ablated_weights, weights)  # the maps are the model's softmax either way


def test_a_batch_of_masks_ablates_one_head_per_copy() -> None:
    torch.manual_seed(1)
    attention = MultiHeadAttention(d_model=8, n_heads=2)
    query = torch.randn(1, 3, 8).expand(2, -1, -1)
    masks = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # (B, H)
    batched, _ = attention(query, query, head_mask=masks)
    for b in range(2):
        single, _ = attention(query[:1], query[:1], head_mask=masks[b])
        assert torch.allclose(batched[b], single[0], atol=1e-6)


def test_marian_all_ones_masks_give_exactly_the_unablated_translation() -> None:
    torch.manual_seed(0)
    model = MarianTiny(TINY).eval()
    source = [5, 6, 7, 8, EOS]
    with torch.inference_mode():
        plain = model.greedy(source, torch.arange(24))
        ones = model.greedy(source, torch.arange(24), torch.ones(2, 4), torch.ones(2, 4))
        ablated = model.greedy(source, torch.arange(24), None, torch.zeros(2, 4))
    assert plain.output_ids == ones.output_ids
    assert torch.equal(plain.encoder_attentions, ones.encoder_attentions)
    assert torch.equal(plain.cross_attentions, ones.cross_attentions)
    # every cross-attention head off: the decoder no longer sees the source; its maps are still its softmax
    assert torch.allclose(ablated.cross_attentions.sum(-1), torch.ones(2, 4, len(ablated.output_ids)), atol=1e-6)


def reference_log_probs(model: MarianTiny, source: list[int], output: list[int], masks: dict[str, Any]) -> torch.Tensor:
    """log p(output[t]) by the served decoder (DecoderStep), with the same masks: the truth for the scorer."""
    with torch.inference_mode():
        memory, _ = model.encode(torch.tensor([source]), masks.get("encoder_self"))
        cross = masks.get("cross")
        steps = [
            DecoderStep(layer, memory, None if cross is None else cross[i])
            for i, layer in enumerate(model.decoder_layers)
        ]
        x = model.positions[0]
        result = []
        for t, token in enumerate(output):
            for step in steps:
                x, _ = step(x)
            logits = model.embedding.weight @ x + model.output_bias  # (V,)
            result.append(F.log_softmax(logits, dim=-1)[token])
            x = model.embedding.weight[token] * TINY.d_model**0.5 + model.positions[t + 1]
    return torch.stack(result)


def test_teacher_forced_scorer_matches_the_served_decoder_under_ablation() -> None:
    torch.manual_seed(2)
    model = MarianTiny(TINY).eval()
    source = [5, 9, 7, EOS]
    encoder_mask = torch.ones(2, 4)
    encoder_mask[1, 2] = 0.0
    cross_mask = torch.ones(2, 4)
    cross_mask[0, 0] = 0.0
    with torch.inference_mode():
        output = model.greedy(source, torch.arange(24), encoder_mask, cross_mask).output_ids
    scorer = MarianScorer(SimpleNamespace(model=model), source, output, torch.arange(24))  # type: ignore[arg-type]
    with torch.no_grad():
        got = scorer.log_probs(scorer.embeddings(), encoder_mask, cross_mask)[0]
        unablated = scorer.log_probs(scorer.embeddings())[0]
    want = reference_log_probs(model, source, output, {"encoder_self": encoder_mask, "cross": cross_mask})
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(unablated, want, atol=1e-3)  # the masks did change the scores


def test_bert_ones_mask_is_exact_and_a_zero_changes_the_states() -> None:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=20,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=32,
        max_position_embeddings=16,
    )
    encoder = BertEncoder(config).eval()
    ids = torch.tensor([[1, 5, 7, 2]])
    with torch.no_grad():
        plain = encoder(ids)
        ones = encoder(ids, head_mask=torch.ones(2, 4))
        mask = torch.ones(2, 4)
        mask[1, 3] = 0.0
        ablated = encoder(ids, head_mask=mask)
    assert torch.equal(plain.hidden, ones.hidden) and torch.equal(plain.attentions, ones.attentions)
    assert not torch.allclose(ablated.hidden, plain.hidden, atol=1e-4)
    assert torch.equal(ablated.attentions[:, 0], plain.attentions[:, 0])  # layer 0 comes before the ablated head


def test_attention_api_ablation(client: TestClient) -> None:
    body = {"model": "marian-en-pt", "text": "The old black cat slept on the mat.", "kinds": ["cross"]}
    plain = client.post("/api/attention/text", json=body)
    assert plain.status_code == 200
    nothing = client.post("/api/attention/text", json={**body, "ablate": []})
    assert nothing.status_code == 200 and nothing.json() == plain.json()
    ablated = client.post("/api/attention/text", json={**body, "ablate": [["cross", 0, 5], ["cross", 1, 3]]})
    assert ablated.status_code == 200
    assert ablated.json()["output_text"] != plain.json()["output_text"] or (
        ablated.json()["maps"] != plain.json()["maps"]
    )
    bad = client.post("/api/attention/text", json={**body, "ablate": [[6, 0]]})
    assert bad.status_code == 422 and "does not exist" in bad.json()["detail"]
    unsupported = client.post("/api/attention/text", json={"model": "dinov2-s14", "text": "x", "ablate": [[0, 0]]})
    assert unsupported.status_code == 422


def test_transformer_masks_and_embeddings_path_are_exact() -> None:
    from models.nets.transformer import Transformer, TransformerConfig

    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=20, d_model=16, n_heads=4, encoder_layers=2, decoder_layers=2, d_ffn=32, max_positions=32
    )
    model = Transformer(config).eval()
    src, tgt_in = torch.tensor([[5, 6, 7, config.eos_id]]), torch.tensor([[config.bos_id, 8, 9]])
    ones = {kind: torch.ones(2, 4) for kind in ("encoder_self", "decoder_self", "cross")}
    with torch.no_grad():
        plain = model(src, tgt_in)
        masked = model(src, tgt_in, ones, model.embedding(src) * 16**0.5)
        cross = torch.ones(2, 4)
        cross[1, 0] = 0.0
        ablated = model(src, tgt_in, {"cross": cross})
    assert torch.allclose(masked.logits, plain.logits, atol=1e-6)
    assert torch.equal(model(src, tgt_in, ones).logits, plain.logits)  # all-ones masks: exactly unablated
    assert torch.equal(ablated.cross_attentions[:, 0], plain.cross_attentions[:, 0])  # before the ablated layer
    assert not torch.allclose(ablated.logits, plain.logits, atol=1e-4)


def test_caption_transformer_masks_are_exact_and_ablate_only_later_layers() -> None:
    from models.nets.caption_transformer import TransformerCaptioner, TransformerCaptionerConfig

    torch.manual_seed(0)
    config = TransformerCaptionerConfig(
        vocab_size=12, feature_dim=8, grid=(2, 3), d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=6
    )
    model = TransformerCaptioner(config).eval()
    features, words = torch.randn(1, 6, 8), torch.tensor([[1, 5, 7]])
    cross = torch.ones(2, 2)
    with torch.no_grad():
        plain = model(features, words)
        ones = model(features, words, {"cross": cross, "decoder_self": torch.ones(2, 2)})
        cross[1, 1] = 0.0
        ablated = model(features, words, {"cross": cross})
        generated = model.generate(features, 1, 2, head_masks={"cross": cross})
    assert torch.equal(ones.logits, plain.logits) and torch.equal(ones.cross_attentions, plain.cross_attentions)
    assert torch.equal(ablated.cross_attentions, plain.cross_attentions)  # maps are inputs to the ablated output
    assert not torch.allclose(ablated.logits, plain.logits, atol=1e-5)
    assert generated.tokens.shape[0] == 1


def test_image_attention_api_ablation(client: TestClient) -> None:
    from models.data import scenes

    png = scenes.scene_png(scenes.compose(3, seed=0, split="test"))
    files = {"file": ("s.png", png, "image/png")}
    form = {"model": "dinov2-s14", "layers": "11"}
    plain = client.post("/api/attention/image", data=form, files=files)
    assert plain.status_code == 200
    nothing = client.post("/api/attention/image", data={**form, "ablate": "[]"}, files=files)
    assert nothing.status_code == 200 and nothing.json() == plain.json()
    ablated = client.post("/api/attention/image", data={**form, "ablate": "[[10, 0], [10, 1]]"}, files=files)
    assert ablated.status_code == 200 and ablated.json()["maps"] != plain.json()["maps"]
    bad = client.post("/api/attention/image", data={**form, "ablate": "[[12, 0]]"}, files=files)
    assert bad.status_code == 422 and "does not exist" in bad.json()["detail"]
    caption = client.post(
        "/api/attention/image", data={"model": "captioner-transformer", "ablate": "[[2, 1]]"}, files=files
    )
    assert caption.status_code == 200 and caption.json()["caption"]
