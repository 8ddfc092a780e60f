"""Compatibility (score) functions of encoder-decoder attention, behind one interface.

Every module here is called as `forward(query, keys, mask) -> (context, weights)`:
score each key against the query, softmax over the unmasked keys, and return the
weighted sum of the keys with the weights. The taxonomy and names follow Galassi,
Lippi & Torroni (2020), "Attention in Natural Language Processing", Table 2:

  cosine            beta * cos(q, k)                       Graves et al. 2014 (NTM)
  dot               q . k                                  Luong et al. 2015
  scaled_dot        q . k / sqrt(d)                        Vaswani et al. 2017
  general           q^T W k                                Luong et al. 2015
  biased_general    k^T (W q + b)                          Sordoni et al. 2016
  activated_general tanh(k^T W q + b)                      Ma et al. 2017
  concat            v^T tanh(W [q; k])                     Luong et al. 2015
  additive          v^T tanh(W1 k + W2 q + b)              Bahdanau et al. 2015
  deep              v^T tanh(W_L ... tanh(W1 k + W2 q))    Pavlopoulos et al. 2017
  location          softmax(W q), W: query -> positions    Luong et al. 2015

`concat` and `additive` are the same function up to parametrisation (W [q; k] =
Wq q + Wk k); both are kept because the papers name them separately.

Dimensions: B batch, T queries (decoder steps), S keys (source positions),
Dq query width, Dk key width, Da hidden width of the scoring MLPs.
A query may be (B, Dq) (one decoder step) or (B, T, Dq); outputs follow: context
(B, Dk) / (B, T, Dk) and weights (B, S) / (B, T, S). The mask is (B, S), True where a
key may be attended; masked weights are exactly 0 and every row sums to 1.
Weights are returned, never stored on the module.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Attention(nn.Module):
    """Base class: subclasses implement `score`; softmax, masking and context live here.

    `precompute(keys)` returns the part of the score that depends only on the keys
    (e.g. W1 k for additive attention). A decoder calls it once per sentence and
    passes it back as `cache=` at every step; without it `forward` computes it itself.
    """

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__()
        self.query_dim = query_dim
        self.key_dim = key_dim

    def precompute(self, keys: torch.Tensor) -> torch.Tensor:
        """keys (B, S, Dk) -> whatever `score` needs from them; default: the keys."""
        return keys

    def score(self, query: torch.Tensor, keys: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        """query (B, T, Dq), keys (B, S, Dk), cache from `precompute` -> scores (B, T, S)."""
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor | None = None,
        cache: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, [T,] Dq), keys (B, S, Dk), mask (B, S) -> context, weights."""
        single_step = query.dim() == 2
        q = query.unsqueeze(1) if single_step else query  # (B, T, Dq)
        if cache is None:
            cache = self.precompute(keys)
        scores = self.score(q, keys, cache)  # (B, T, S)
        if mask is not None:
            allowed = mask.unsqueeze(1)  # (B, 1, S)
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
            weights = scores.softmax(dim=-1).masked_fill(~allowed, 0.0)  # (B, T, S)
        else:
            weights = scores.softmax(dim=-1)  # (B, T, S)
        context = weights @ keys  # (B, T, Dk)
        if single_step:
            return context.squeeze(1), weights.squeeze(1)  # (B, Dk), (B, S)
        return context, weights


def _require_same_width(name: str, query_dim: int, key_dim: int) -> None:
    if query_dim != key_dim:
        raise ValueError(f"{name} attention needs query_dim == key_dim, got {query_dim} != {key_dim}")


class CosineAttention(Attention):
    """beta * cos(q, k), with a learned sharpness beta (the NTM key strength)."""

    def __init__(self, query_dim: int, key_dim: int, init_beta: float = 10.0) -> None:
        super().__init__(query_dim, key_dim)
        _require_same_width("cosine", query_dim, key_dim)
        self.log_beta = nn.Parameter(torch.tensor(math.log(init_beta)))

    def precompute(self, keys: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(keys, dim=-1)  # (B, S, Dk)

    def score(self, query: torch.Tensor, keys: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        q = nn.functional.normalize(query, dim=-1)  # (B, T, Dq)
        return self.log_beta.exp() * (q @ cache.transpose(1, 2))  # (B, T, S)


class DotAttention(Attention):
    """q . k (Luong "dot")."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__(query_dim, key_dim)
        _require_same_width("dot", query_dim, key_dim)

    def score(self, query: torch.Tensor, keys: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        return query @ keys.transpose(1, 2)  # (B, T, S)


class ScaledDotAttention(Attention):
    """q . k / sqrt(d) (Vaswani), written out so the weights stay visible."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__(query_dim, key_dim)
        _require_same_width("scaled dot", query_dim, key_dim)
        self.scale = 1.0 / math.sqrt(key_dim)

    def score(self, query: torch.Tensor, keys: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        return (query @ keys.transpose(1, 2)) * self.scale  # (B, T, S)


class GeneralAttention(Attention):
    """q^T W k (Luong "general", bilinear); computed as (W^T q) . k, cheap per step.

    init "default": nn.Linear's uniform init, so the first scores are a random bilinear form of q and k;
    "identity": W starts as I (rectangular: its leading diagonal), so general starts as dot attention.
    scaled: the score is divided by sqrt(key_dim), as in scaled dot: W must grow sqrt(key_dim) times larger before
    the softmax saturates (issue 12: under Adam at the family's learning rate, W's norm grows until nearly every
    row is one-hot).
    """

    def __init__(self, query_dim: int, key_dim: int, init: str = "default", scaled: bool = False) -> None:
        super().__init__(query_dim, key_dim)
        self.W = nn.Linear(query_dim, key_dim, bias=False)
        self.scale = 1.0 / math.sqrt(key_dim) if scaled else 1.0
        if init == "identity":
            nn.init.eye_(self.W.weight)
        elif init != "default":
            raise ValueError(f"unknown general attention init {init!r}; expected 'default' or 'identity'")

    def score(self, query: torch.Tensor, keys: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        return (self.W(query) @ keys.transpose(1, 2)) * self.scale  # (B, T, Dk) @ (B, Dk, S) -> (B, T, S)


class BiasedGeneralAttention(GeneralAttention):
    """k^T (W q + b) (Sordoni et al. 2016): general with a bias term on the keys."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__(query_dim, key_dim)
        self.W = nn.Linear(query_dim, key_dim, bias=True)


class ActivatedGeneralAttention(Attention):
    """tanh(k^T W q + b) (Ma et al. 2017); scores are bounded to (-1, 1)."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__(query_dim, key_dim)
        self.W = nn.Linear(query_dim, key_dim, bias=False)
        self.b = nn.Parameter(torch.zeros(()))

    def score(self, query: torch.Tensor, keys: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.W(query) @ keys.transpose(1, 2) + self.b)  # (B, T, S)


class ConcatAttention(Attention):
    """v^T tanh(W [q; k]) (Luong "concat"). W is one matrix over the concatenation;
    its key half is applied once per sentence in `precompute`."""

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int) -> None:
        super().__init__(query_dim, key_dim)
        self.W = nn.Linear(query_dim + key_dim, attn_dim, bias=False)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def precompute(self, keys: torch.Tensor) -> torch.Tensor:
        return keys @ self.W.weight[:, self.query_dim :].T  # (B, S, Da)

    def score(self, query: torch.Tensor, keys: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        q = query @ self.W.weight[:, : self.query_dim].T  # (B, T, Da)
        hidden = torch.tanh(q.unsqueeze(2) + cache.unsqueeze(1))  # (B, T, S, Da)
        return self.v(hidden).squeeze(-1)  # (B, T, S)


class AdditiveAttention(Attention):
    """v^T tanh(W1 k + W2 q + b) (Bahdanau et al. 2015)."""

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int) -> None:
        super().__init__(query_dim, key_dim)
        self.W1 = nn.Linear(key_dim, attn_dim, bias=True)
        self.W2 = nn.Linear(query_dim, attn_dim, bias=False)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def precompute(self, keys: torch.Tensor) -> torch.Tensor:
        return self.W1(keys)  # (B, S, Da)

    def score(self, query: torch.Tensor, keys: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(cache.unsqueeze(1) + self.W2(query).unsqueeze(2))  # (B, T, S, Da)
        return self.v(hidden).squeeze(-1)  # (B, T, S)


class DeepAttention(Attention):
    """Additive attention with a deeper scoring MLP (Pavlopoulos et al. 2017):
    E1 = tanh(W1 k + W2 q + b1), El = tanh(Wl E(l-1) + bl), score = v^T E_L."""

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int, depth: int = 2) -> None:
        super().__init__(query_dim, key_dim)
        if depth < 2:
            raise ValueError(f"deep attention needs depth >= 2, got {depth}")
        self.W1 = nn.Linear(key_dim, attn_dim, bias=True)
        self.W2 = nn.Linear(query_dim, attn_dim, bias=False)
        self.layers = nn.ModuleList(nn.Linear(attn_dim, attn_dim) for _ in range(depth - 1))
        self.v = nn.Linear(attn_dim, 1, bias=True)

    def precompute(self, keys: torch.Tensor) -> torch.Tensor:
        return self.W1(keys)  # (B, S, Da)

    def score(self, query: torch.Tensor, keys: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(cache.unsqueeze(1) + self.W2(query).unsqueeze(2))  # (B, T, S, Da)
        for layer in self.layers:
            hidden = torch.tanh(layer(hidden))  # (B, T, S, Da)
        return self.v(hidden).squeeze(-1)  # (B, T, S)


class LocationAttention(Attention):
    """softmax(W q) over source positions (Luong "location"): the keys' content is not
    looked at, only how many there are. Sources longer than max_positions are refused."""

    def __init__(self, query_dim: int, key_dim: int, max_positions: int) -> None:
        super().__init__(query_dim, key_dim)
        self.max_positions = max_positions
        self.W = nn.Linear(query_dim, max_positions)

    def score(self, query: torch.Tensor, keys: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        S = keys.shape[1]
        if S > self.max_positions:
            raise ValueError(f"location attention covers {self.max_positions} source positions, got {S}")
        return self.W(query)[..., :S]  # (B, T, S)


SCORE_FUNCTIONS = (
    "cosine",
    "dot",
    "scaled_dot",
    "general",
    "biased_general",
    "activated_general",
    "concat",
    "additive",
    "deep",
    "location",
)


def build_attention(
    kind: str,
    query_dim: int,
    key_dim: int,
    attn_dim: int = 256,
    max_positions: int = 256,
    general_init: str = "default",
    general_scaled: bool = False,
) -> Attention:
    """The attention module named `kind` (one of SCORE_FUNCTIONS)."""
    if kind == "cosine":
        return CosineAttention(query_dim, key_dim)
    if kind == "dot":
        return DotAttention(query_dim, key_dim)
    if kind == "scaled_dot":
        return ScaledDotAttention(query_dim, key_dim)
    if kind == "general":
        return GeneralAttention(query_dim, key_dim, general_init, general_scaled)
    if kind == "biased_general":
        return BiasedGeneralAttention(query_dim, key_dim)
    if kind == "activated_general":
        return ActivatedGeneralAttention(query_dim, key_dim)
    if kind == "concat":
        return ConcatAttention(query_dim, key_dim, attn_dim)
    if kind == "additive":
        return AdditiveAttention(query_dim, key_dim, attn_dim)
    if kind == "deep":
        return DeepAttention(query_dim, key_dim, attn_dim)
    if kind == "location":
        return LocationAttention(query_dim, key_dim, max_positions)
    raise ValueError(f"unknown attention {kind!r}; expected one of {', '.join(SCORE_FUNCTIONS)}")
