"""Tiny-config tests of the GRU encoder-decoder: shapes, masking, decoding, files."""

from pathlib import Path

import pytest
import torch

from models.nets.scores import SCORE_FUNCTIONS
from models.nets.seq2seq_rnn import Seq2SeqConfig, Seq2SeqRNN

PAD, BOS, EOS = 0, 2, 3


def tiny(attention: str = "additive", **overrides: object) -> Seq2SeqRNN:
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        vocab_size=20,
        emb_dim=16,
        enc_hidden=8,
        dec_hidden=16,
        attention=attention,
        attn_dim=8,
        max_source_positions=12,
        dropout=0.0,
        **overrides,  # type: ignore[arg-type]
    )
    return Seq2SeqRNN(config).eval()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    src = torch.tensor([[5, 6, 7, 8, EOS], [9, 10, EOS, PAD, PAD]])  # (B=2, S=5)
    tgt_in = torch.tensor([[BOS, 11, 12, 13], [BOS, 14, PAD, PAD]])  # (B=2, T=4)
    return src, tgt_in


@pytest.mark.parametrize("attention", SCORE_FUNCTIONS)
def test_forward_shapes_and_masked_cross_attention(attention: str) -> None:
    model = tiny(attention)
    src, tgt_in = batch()
    out = model(src, tgt_in)
    assert out.logits.shape == (2, 4, 20)
    assert out.cross_attentions is not None
    assert out.cross_attentions.shape == (2, 4, 5)
    torch.testing.assert_close(out.cross_attentions.sum(-1), torch.ones(2, 4))
    assert bool((out.cross_attentions[1, :, 3:] == 0).all())


@pytest.mark.parametrize("attention", [*SCORE_FUNCTIONS, "none"])
def test_gradients_reach_every_parameter(attention: str) -> None:
    model = tiny(attention).train()
    src, tgt_in = batch()
    out = model(src, tgt_in)
    loss = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 20), tgt_in.reshape(-1))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


def test_padding_does_not_change_the_result() -> None:
    model = tiny("additive")
    src = torch.tensor([[9, 10, EOS]])
    padded = torch.tensor([[9, 10, EOS, PAD, PAD, PAD]])
    tgt_in = torch.tensor([[BOS, 11, 12]])
    a, b = model(src, tgt_in), model(padded, tgt_in)
    torch.testing.assert_close(a.logits, b.logits)
    assert a.cross_attentions is not None and b.cross_attentions is not None
    torch.testing.assert_close(a.cross_attentions, b.cross_attentions[:, :, :3])


def test_baseline_has_no_attention_and_a_fixed_context() -> None:
    model = tiny("none")
    assert model.decoder.attention is None
    assert not any("attention" in name for name, _ in model.named_parameters())
    src, tgt_in = batch()
    assert model(src, tgt_in).cross_attentions is None
    assert model.greedy(src, max_len=6).cross_attentions is None
    assert model.beam_search(src[:1], beam_size=4, max_len=6).cross_attentions is None
    keys, mask, summary, cache = model.encode(src)
    assert cache is None and summary.shape == (2, model.config.key_dim)


@pytest.mark.parametrize("attention", ["additive", "dot", "location", "none"])
def test_greedy_returns_the_attention_of_every_generated_step(attention: str) -> None:
    model = tiny(attention)
    src, _ = batch()
    out = model.greedy(src, max_len=6)
    B, T = out.tokens.shape
    assert B == 2 and 1 <= T <= 6
    assert out.scores.shape == (2,)
    if attention == "none":
        return
    assert out.cross_attentions is not None
    assert out.cross_attentions.shape == (2, T, 5)
    for b in range(2):
        tokens = out.tokens[b].tolist()
        length = tokens.index(EOS) + 1 if EOS in tokens else T
        rows = out.cross_attentions[b, :length].sum(-1)
        torch.testing.assert_close(rows, torch.ones(length))
        assert bool((out.cross_attentions[b, length:] == 0).all())
    assert bool((out.cross_attentions[1, :, 3:] == 0).all())


def test_greedy_matches_teacher_forcing_on_its_own_output() -> None:
    model = tiny("general")
    src, _ = batch()
    out = model.greedy(src[:1], max_len=6)
    tgt_in = torch.cat([torch.tensor([[BOS]]), out.tokens[:, :-1]], dim=1)
    forced = model(src[:1], tgt_in)
    torch.testing.assert_close(forced.logits.argmax(-1), out.tokens)
    assert forced.cross_attentions is not None and out.cross_attentions is not None
    torch.testing.assert_close(forced.cross_attentions, out.cross_attentions)
    logp = forced.logits.log_softmax(-1).gather(-1, out.tokens.unsqueeze(-1)).sum()
    torch.testing.assert_close(out.scores[0], logp)


@pytest.mark.parametrize("attention", ["additive", "scaled_dot", "deep"])
def test_beam_search_follows_back_pointers(attention: str) -> None:
    model = tiny(attention)
    src, _ = batch()
    out = model.beam_search(src[1:], beam_size=4, max_len=8)
    assert out.tokens.shape[0] == 1 and 1 <= out.tokens.shape[1] <= 8
    assert out.cross_attentions is not None
    T = out.tokens.shape[1]
    assert out.cross_attentions.shape == (1, T, 5)
    # rescoring the chosen hypothesis with teacher forcing gives the same attention + score
    tgt_in = torch.cat([torch.tensor([[BOS]]), out.tokens[:, :-1]], dim=1)
    forced = model(src[1:], tgt_in)
    assert forced.cross_attentions is not None
    torch.testing.assert_close(forced.cross_attentions, out.cross_attentions)
    logp = forced.logits.log_softmax(-1).gather(-1, out.tokens.unsqueeze(-1)).sum()
    torch.testing.assert_close(out.scores[0], logp)


def test_beam_search_is_at_least_as_likely_as_greedy() -> None:
    model = tiny("additive")
    src, _ = batch()
    greedy = model.greedy(src[:1], max_len=8)
    beam = model.beam_search(src[:1], beam_size=5, max_len=8, length_penalty=0.0)
    if greedy.tokens[0, -1] == EOS:  # both complete: beam's total log-prob is >= greedy's
        assert float(beam.scores[0]) >= float(greedy.scores[0]) - 1e-5


def test_beam_search_wants_one_sentence() -> None:
    src, _ = batch()
    with pytest.raises(ValueError, match="one sentence"):
        tiny().beam_search(src, beam_size=4)


def test_unknown_attention_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown attention"):
        tiny("bogus")


def test_save_and_load_fp16(tmp_path: Path) -> None:
    model = tiny("additive")
    model.save_pretrained(tmp_path)
    loaded = Seq2SeqRNN.from_pretrained(tmp_path)
    assert loaded.config == model.config
    src, tgt_in = batch()
    torch.testing.assert_close(loaded(src, tgt_in).logits, model(src, tgt_in).logits, atol=2e-2, rtol=0)
    size = (tmp_path / "model.safetensors").stat().st_size
    assert size < model.num_parameters() * 2 + 10_000
