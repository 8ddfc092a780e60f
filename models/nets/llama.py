"""A Llama-style decoder-only language model (Touvron et al. 2023, "LLaMA: Open and Efficient Foundation
Language Models"), the architecture of SmolLM2 (Allal et al. 2025):

- RMSNorm before each block (Zhang & Sennrich 2019), no biases anywhere;
- rotary position embeddings, RoPE (Su et al. 2021, "RoFormer"), in the Hugging Face "rotate half" layout;
- grouped-query attention, GQA (Ainslie et al. 2023): H query heads share G key/value heads, query head h
  reading key/value head h // (H / G), so heads 0..H/G-1 see the same keys;
- a SwiGLU feed-forward block (Shazeer 2020, "GLU Variants Improve Transformer").

The attention weights are computed explicitly, softmax(q k^T / sqrt(Dh)) with a causal mask, so every
weight above the diagonal is exactly 0 and each row sums to 1. A key/value cache makes generation one
token per step; the weights of a step are only kept for the layers asked for.
Dimensions: B batch, T new (query) positions, S key positions (cached + new), H query heads,
G key/value heads, Dh head width, D model width, F feed-forward width, V vocabulary, L layers.
"""

import math
from collections.abc import Collection
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

KVCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys (rotated) and values, each (B, G, S, Dh)


class RMSNorm(nn.Module):
    """x / rms(x) * weight, the statistics in float32."""

    def __init__(self, width: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.float().pow(2).mean(dim=-1, keepdim=True)  # (..., 1)
        return (x.float() * torch.rsqrt(variance + self.eps)).to(x.dtype) * self.weight


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(..., Dh) -> (-x2, x1) where x1, x2 are the two halves: the Hugging Face RoPE layout."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rope_angles(positions: torch.Tensor, d_head: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """positions (T,) -> cos, sin, each (T, Dh): angle p * base^(-2i / Dh) for i < Dh / 2, repeated for both halves."""
    inv_freq = 1.0 / base ** (torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)  # (Dh/2,)
    angles = positions.float()[:, None] * inv_freq[None, :]  # (T, Dh/2)
    angles = torch.cat((angles, angles), dim=-1)  # (T, Dh)
    return angles.cos(), angles.sin()


def causal_mask(T: int, S: int) -> torch.Tensor:
    """(T, S) True where query t (the last T of S positions) may see key s: s <= t + (S - T)."""
    return torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """q (B, H, T, Dh) against k, v (B, H, S, Dh), mask (T, S) True = may attend
    -> context (B, H, T, Dh), weights (B, H, T, S) in float32; masked weights are exactly 0."""
    scores = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, T, S)
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)  # (B, H, T, S)
    return (weights.to(v.dtype) @ v), weights  # (B, H, T, Dh)


@dataclass
class LlamaConfig:
    vocab_size: int = 49152  # tokens
    d_model: int = 576  # model width D
    n_layers: int = 30  # decoder blocks L
    n_heads: int = 9  # query heads H
    n_kv_heads: int = 3  # key/value heads G; each serves H / G query heads
    d_ff: int = 1536  # SwiGLU hidden width F
    rope_base: float = 100000.0  # RoPE frequency base
    norm_eps: float = 1e-5  # RMSNorm epsilon
    max_positions: int = 8192  # context the model was trained for
    tie_embeddings: bool = True  # the output projection is the token embedding

    @property
    def d_head(self) -> int:
        if self.d_model % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError(f"d_model {self.d_model}, {self.n_heads} heads, {self.n_kv_heads} kv heads do not divide")
        return self.d_model // self.n_heads


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with H query heads over G shared key/value heads, RoPE on queries and keys."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.d_head = config.n_heads, config.n_kv_heads, config.d_head
        self.q_proj = nn.Linear(config.d_model, config.n_heads * self.d_head, bias=False)
        self.k_proj = nn.Linear(config.d_model, config.n_kv_heads * self.d_head, bias=False)
        self.v_proj = nn.Linear(config.d_model, config.n_kv_heads * self.d_head, bias=False)
        self.o_proj = nn.Linear(config.n_heads * self.d_head, config.d_model, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
        head_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, T, D) at the positions `rope` (cos, sin, each (T, Dh)) was made for, after `past` cached keys.
        head_mask (H,): 0 switches a query head off (its context zeroed before o_proj; its weights are still
        computed and returned; the key/value heads it shares are untouched).

        Returns context (B, T, D), weights (B, H, T, S) and the new cache entry (keys, values), each (B, G, S, Dh).
        """
        B, T, _ = x.shape
        cos, sin = rope
        q = self.q_proj(x).view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, T, Dh)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.d_head).transpose(1, 2)  # (B, G, T, Dh)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.d_head).transpose(1, 2)  # (B, G, T, Dh)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past is not None:
            k = torch.cat((past[0], k), dim=2)  # (B, G, S, Dh)
            v = torch.cat((past[1], v), dim=2)  # (B, G, S, Dh)
        group = self.n_heads // self.n_kv_heads
        shared_k = k.repeat_interleave(group, dim=1)  # (B, H, S, Dh): query head h reads kv head h // group
        shared_v = v.repeat_interleave(group, dim=1)  # (B, H, S, Dh)
        context, weights = attend(q, shared_k, shared_v, causal_mask(T, k.shape[2]))
        if head_mask is not None:
            context = context * head_mask.to(context.dtype)[:, None, None]  # (B, H, T, Dh)
        out = self.o_proj(context.transpose(1, 2).reshape(B, T, self.n_heads * self.d_head))  # (B, T, D)
        return out, weights, (k, v)


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x))."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.up_proj = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.down_proj = nn.Linear(config.d_ff, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # (B, T, D)


class DecoderBlock(nn.Module):
    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.input_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attention = GroupedQueryAttention(config)
        self.post_attention_norm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = SwiGLU(config)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
        head_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, T, D) -> (B, T, D), the attention weights (B, H, T, S) and the cache entry; head_mask (H,)."""
        context, weights, cache = self.attention(self.input_norm(x), rope, past, head_mask)
        x = x + context
        return x + self.mlp(self.post_attention_norm(x)), weights, cache


@dataclass(frozen=True)
class DecoderOutput:
    """One forward pass over T new positions.

    logits: (B, T, V) next-token scores at each new position; None when the pass stopped after `last_layer`.
    attentions: layer -> (B, H, T, S) float32 softmax weights of the layers asked for (rows sum to 1,
        exact 0 above the diagonal); S = cached positions + T.
    cache: per layer (keys, values), each (B, G, S, Dh), keys already rotated: pass it back to continue.
    """

    logits: torch.Tensor | None
    attentions: dict[int, torch.Tensor]
    cache: KVCache


class LlamaDecoder(nn.Module):
    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(DecoderBlock(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.embed.weight

    def forward(
        self,
        ids: torch.Tensor,
        cache: KVCache | None = None,
        keep: Collection[int] = (),
        last_layer: int | None = None,
        head_mask: torch.Tensor | None = None,
    ) -> DecoderOutput:
        """ids (B, T) continuing the positions in `cache` (None: from position 0).

        keep: layers whose attention weights to return. last_layer: stop after this block (no logits),
        e.g. when only the maps of the first layers are wanted. head_mask (L, H): 0 switches a head off.
        """
        past = cache or []
        offset = past[0][0].shape[2] if past else 0
        T = ids.shape[1]
        rope = rope_angles(torch.arange(offset, offset + T), self.config.d_head, self.config.rope_base)
        x = self.embed(ids)  # (B, T, D)
        attentions: dict[int, torch.Tensor] = {}
        new_cache: KVCache = []
        for layer, block in enumerate(self.blocks):
            mask = None if head_mask is None else head_mask[layer]
            x, weights, entry = block(x, rope, past[layer] if past else None, mask)
            new_cache.append(entry)
            if layer in keep:
                attentions[layer] = weights
            if last_layer is not None and layer >= last_layer:
                return DecoderOutput(None, attentions, new_cache)
        logits = self.lm_head(self.norm(x))  # (B, T, V)
        return DecoderOutput(logits, attentions, new_cache)

    @torch.inference_mode()
    def greedy(
        self, prompt: list[int], max_new_tokens: int, stop: Collection[int] = (), head_mask: torch.Tensor | None = None
    ) -> list[int]:
        """Greedy decoding with the cache: the generated ids (at most max_new_tokens; a stop id ends it, kept).
        head_mask (L, H): 0 switches a head off at every step."""
        out = self(torch.tensor([prompt]), head_mask=head_mask)
        generated: list[int] = []
        while len(generated) < max_new_tokens:
            assert out.logits is not None
            next_id = int(out.logits[0, -1].argmax())
            generated.append(next_id)
            if next_id in stop or len(prompt) + len(generated) >= self.config.max_positions:
                break
            out = self(torch.tensor([[next_id]]), out.cache, head_mask=head_mask)
        return generated
