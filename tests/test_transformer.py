"""The textbook Transformer on a tiny config: masks, distributions, equivariance, schedule."""

from pathlib import Path

import torch

from models.nets.transformer import Transformer, TransformerConfig, causal_mask, sinusoidal_encoding, warmup_lr


def tiny(positional: bool = True) -> Transformer:
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=20, d_model=16, n_heads=4, encoder_layers=2, decoder_layers=2,
                               d_ffn=32, dropout=0.0, max_positions=32, positional=positional)
    return Transformer(config).eval()


def test_shapes_and_distributions() -> None:
    src = torch.tensor([[5, 6, 7, 3, 0, 0], [8, 9, 10, 11, 12, 3]])
    tgt = torch.tensor([[2, 5, 6], [2, 7, 8]])
    out = tiny()(src, tgt)
    assert out.logits.shape == (2, 3, 20)
    assert out.encoder_attentions.shape == (2, 2, 4, 6, 6)
    assert out.decoder_attentions.shape == (2, 2, 4, 3, 3)
    assert out.cross_attentions.shape == (2, 2, 4, 3, 6)
    for weights in (out.encoder_attentions, out.decoder_attentions, out.cross_attentions):
        assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-6)
    # padding keys of sentence 0 get exactly zero, from encoder and decoder alike
    assert torch.all(out.encoder_attentions[0, ..., 4:] == 0)
    assert torch.all(out.cross_attentions[0, ..., 4:] == 0)


def test_decoder_self_attention_is_exactly_zero_above_the_diagonal() -> None:
    out = tiny()(torch.tensor([[5, 6, 7, 3]]), torch.tensor([[2, 9, 10, 11, 12]]))
    assert torch.all(out.decoder_attentions.triu(diagonal=1) == 0)
    assert torch.all(out.decoder_attentions[..., causal_mask(5)] > 0)  # the visible past keeps weight


def test_future_tokens_do_not_change_the_past() -> None:
    model, src = tiny(), torch.tensor([[5, 6, 7, 3]])
    a = model(src, torch.tensor([[2, 9, 10, 11]]))
    b = model(src, torch.tensor([[2, 9, 10, 15]]))
    assert torch.allclose(a.logits[:, :3], b.logits[:, :3], atol=1e-6)


def test_self_attention_without_positions_is_permutation_equivariant() -> None:
    src = torch.tensor([[5, 6, 7, 8, 9]])
    perm = torch.tensor([3, 0, 4, 1, 2])
    plain = tiny(positional=False).encode(src)[2][0]  # (L, H, S, S)
    permuted = tiny(positional=False).encode(src[:, perm])[2][0]
    assert torch.allclose(permuted, plain[:, :, perm][:, :, :, perm], atol=1e-6)
    with_positions = tiny(positional=True)
    moved = with_positions.encode(src[:, perm])[2][0]
    original = with_positions.encode(src)[2][0]
    assert not torch.allclose(moved, original[:, :, perm][:, :, :, perm], atol=1e-3)


def test_greedy_and_save_load_round_trip(tmp_path: Path) -> None:
    model = tiny()
    src = torch.tensor([[5, 6, 7, 3]])
    ids = model.greedy(src, max_len=6).tokens
    assert ids.shape[0] == 1 and 1 <= ids.shape[1] <= 6
    model.save_pretrained(tmp_path)
    again = Transformer.from_pretrained(tmp_path)
    assert torch.allclose(again(src, torch.tensor([[2, 5]])).logits, model(src, torch.tensor([[2, 5]])).logits,
                          atol=1e-2)  # fp16 weights on disk


def test_positional_encoding_and_schedule() -> None:
    pe = sinusoidal_encoding(50, 16)
    assert torch.allclose(pe[0, 0::2], torch.zeros(8)) and torch.allclose(pe[0, 1::2], torch.ones(8))
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    peak = warmup_lr(4000, 256, 4000)
    assert warmup_lr(100, 256, 4000) < peak and warmup_lr(16000, 256, 4000) < peak
    assert abs(warmup_lr(16000, 256, 4000) - peak / 2) < 1e-9  # 1/sqrt(step) decay after warm-up
