"""Invariants of every score function in models/nets/scores.py, on tiny random tensors."""

import pytest
import torch

from models.nets.scores import SCORE_FUNCTIONS, build_attention

B, S, T, D = 3, 7, 4, 16
LENGTHS = [7, 4, 1]


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(B, T, D, generator=g)
    keys = torch.randn(B, S, D, generator=g)
    mask = torch.arange(S).unsqueeze(0) < torch.tensor(LENGTHS).unsqueeze(1)  # (B, S)
    return query, keys, mask


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_weights_are_a_distribution_over_unmasked_keys(kind: str) -> None:
    torch.manual_seed(0)
    attention = build_attention(kind, D, D, attn_dim=8, max_positions=S)
    query, keys, mask = _inputs()
    context, weights = attention(query, keys, mask)
    assert context.shape == (B, T, D)
    assert weights.shape == (B, T, S)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, T))
    assert bool((weights[~mask.unsqueeze(1).expand(B, T, S)] == 0).all())
    assert bool((weights >= 0).all())
    torch.testing.assert_close(context, weights @ keys)
    # the one-token source attends to its only key with weight 1
    torch.testing.assert_close(weights[2, :, 0], torch.ones(T))


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_single_step_query_matches_batched_steps(kind: str) -> None:
    torch.manual_seed(0)
    attention = build_attention(kind, D, D, attn_dim=8, max_positions=S)
    query, keys, mask = _inputs()
    context, weights = attention(query, keys, mask)
    cache = attention.precompute(keys)
    for t in range(T):
        c_t, w_t = attention(query[:, t], keys, mask, cache=cache)
        assert c_t.shape == (B, D) and w_t.shape == (B, S)
        torch.testing.assert_close(w_t, weights[:, t])
        torch.testing.assert_close(c_t, context[:, t])


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_gradients_reach_query_keys_and_parameters(kind: str) -> None:
    torch.manual_seed(0)
    attention = build_attention(kind, D, D, attn_dim=8, max_positions=S)
    query, keys, mask = _inputs()
    query.requires_grad_(True)
    keys.requires_grad_(True)
    context, weights = attention(query, keys, mask)
    (context.square().sum() + (weights * torch.randn_like(weights)).sum()).backward()
    assert keys.grad is not None and bool(keys.grad.abs().sum() > 0)
    assert query.grad is not None and bool(query.grad.abs().sum() > 0)
    for name, p in attention.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name
    # padded keys receive no gradient through the weights or the context
    assert bool((keys.grad[1, 4:] == 0).all())


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_no_state_is_kept_between_calls(kind: str) -> None:
    torch.manual_seed(0)
    attention = build_attention(kind, D, D, attn_dim=8, max_positions=S)
    query, keys, mask = _inputs(1)
    before = set(vars(attention))
    _, first = attention(query, keys, mask)
    attention(*_inputs(2))
    _, again = attention(query, keys, mask)
    assert set(vars(attention)) == before
    torch.testing.assert_close(first, again)


def test_dot_scores_are_q_dot_k() -> None:
    query, keys, mask = _inputs()
    _, weights = build_attention("dot", D, D)(query, keys, mask)
    scores = (query @ keys.transpose(1, 2)).masked_fill(~mask.unsqueeze(1), float("-inf"))
    torch.testing.assert_close(weights, scores.softmax(-1))
    _, scaled = build_attention("scaled_dot", D, D)(query, keys, mask)
    torch.testing.assert_close(scaled, (scores / D**0.5).softmax(-1))


def test_location_attention_refuses_long_sources() -> None:
    attention = build_attention("location", D, D, max_positions=S - 1)
    query, keys, mask = _inputs()
    with pytest.raises(ValueError, match="source positions"):
        attention(query, keys, mask)


def test_dot_family_needs_equal_widths_and_unknown_names_fail() -> None:
    for kind in ("cosine", "dot", "scaled_dot"):
        with pytest.raises(ValueError, match="query_dim == key_dim"):
            build_attention(kind, D, D + 1)
    general = build_attention("general", D, D + 2)
    context, weights = general(torch.randn(2, D), torch.randn(2, 5, D + 2), None)
    assert context.shape == (2, D + 2) and weights.shape == (2, 5)
    with pytest.raises(ValueError, match="unknown attention"):
        build_attention("bogus", D, D)


def test_general_with_identity_init_starts_as_dot_attention() -> None:
    from models.nets.scores import DotAttention, GeneralAttention

    torch.manual_seed(0)
    query, keys = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    general = GeneralAttention(8, 8, init="identity")
    _, expected = DotAttention(8, 8)(query, keys)
    _, weights = general(query, keys)
    assert torch.allclose(weights, expected, atol=1e-6)
    with pytest.raises(ValueError, match="unknown general attention init"):
        GeneralAttention(8, 8, init="zeros")


def test_scaled_general_divides_the_scores_by_sqrt_dk() -> None:
    from models.nets.scores import GeneralAttention, ScaledDotAttention

    torch.manual_seed(0)
    query, keys = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    plain = GeneralAttention(16, 16, init="identity")
    scaled = GeneralAttention(16, 16, init="identity", scaled=True)
    _, expected = ScaledDotAttention(16, 16)(query, keys)  # identity W: scaled general is scaled dot
    _, weights = scaled(query, keys)
    assert torch.allclose(weights, expected, atol=1e-6)
    assert torch.allclose(scaled.score(query, keys, None) * 4.0, plain.score(query, keys, None), atol=1e-5)
