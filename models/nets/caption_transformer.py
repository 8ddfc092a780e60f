"""captioner-transformer: a small pre-norm Transformer decoder (Vaswani et al. 2017, "Attention Is
All You Need"): masked self-attention over the words so far, then per-head cross-attention over
the P patches (projected to the model width, plus a learned position per patch), then an MLP.

It reads the same frozen DINOv2 patch tokens as Show-Attend-Tell (models/nets/sat.py says which
layer and why). The map shown for output word t is the cross-attention used to predict word t.

Dimensions: B batch, T decoder steps, P = h * w patches, F feature width (384), D model width,
L layers, H heads, V vocabulary.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from models.nets.caption_common import CaptionOutput
from models.nets.multihead import MultiHeadAttention

log = logging.getLogger(__name__)


@dataclass
class TransformerCaptionerConfig:
    vocab_size: int = 40  # V, set from the data
    feature_dim: int = 384  # F, DINOv2 ViT-S token width
    grid: tuple[int, int] = (16, 16)  # (h, w) patch grid of a 224 px input
    d_model: int = 128  # D
    n_heads: int = 4  # H, 32 dimensions each
    n_layers: int = 3  # L decoder layers
    d_ff: int = 512  # MLP width (4 x D), GELU
    dropout: float = 0.1  # on residual branches and embeddings
    max_len: int = 20  # most words generated, <eos> excluded (positions: max_len + 1)


@dataclass(frozen=True)
class TransformerCaptionerOutput:
    """Teacher-forced pass of the Transformer captioner.

    logits: (B, T, V).
    self_attentions: (B, L, H, T, T) masked self-attention (zero above the diagonal).
    cross_attentions: (B, L, H, T, P) attention of each word position over the patches.
    """

    logits: torch.Tensor
    self_attentions: torch.Tensor
    cross_attentions: torch.Tensor


class DecoderLayer(nn.Module):
    """Pre-norm: x + self(ln1 x, causal), x + cross(ln2 x, memory), x + mlp(ln3 x)."""

    def __init__(self, config: TransformerCaptionerConfig) -> None:
        super().__init__()
        D = config.d_model
        self.ln1 = nn.LayerNorm(D)
        self.self_attention = MultiHeadAttention(D, config.n_heads)
        self.ln2 = nn.LayerNorm(D)
        self.cross_attention = MultiHeadAttention(D, config.n_heads)
        self.ln3 = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, config.d_ff)
        self.fc2 = nn.Linear(config.d_ff, D)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        causal: torch.Tensor,
        self_heads: torch.Tensor | None = None,
        cross_heads: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, D), memory (B, P, D), causal (1, 1, T, T) -> x, self (B, H, T, T), cross (B, H, T, P).
        self_heads, cross_heads (H,) or (B, H): 0 ablates that head (output zeroed before the projection)."""
        h = self.ln1(x)
        context, self_weights = self.self_attention(h, h, causal, self_heads)
        x = x + self.dropout(context)
        context, cross_weights = self.cross_attention(self.ln2(x), memory, None, cross_heads)
        x = x + self.dropout(context)
        x = x + self.dropout(self.fc2(F.gelu(self.fc1(self.ln3(x)))))
        return x, self_weights, cross_weights


class TransformerCaptioner(nn.Module):
    def __init__(self, config: TransformerCaptionerConfig) -> None:
        super().__init__()
        self.config = config
        D, P = config.d_model, config.grid[0] * config.grid[1]
        self.feature_norm = nn.LayerNorm(config.feature_dim)
        self.feature_proj = nn.Linear(config.feature_dim, D)
        self.patch_positions = nn.Parameter(torch.zeros(1, P, D))
        self.embed = nn.Embedding(config.vocab_size, D)
        self.positions = nn.Parameter(torch.zeros(1, config.max_len + 1, D))
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, config.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied input and output embeddings
        self.dropout = nn.Dropout(config.dropout)
        nn.init.normal_(self.patch_positions, std=0.02)
        nn.init.normal_(self.positions, std=0.02)
        nn.init.normal_(self.embed.weight, std=0.02)

    def memory(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, P, F) -> memory (B, P, D)."""
        return self.feature_proj(self.feature_norm(features)) + self.patch_positions

    def decode(
        self, memory: torch.Tensor, words: torch.Tensor, head_masks: Mapping[str, torch.Tensor] | None = None
    ) -> TransformerCaptionerOutput:
        """memory (B, P, D), words (B, T) -> logits and every attention map.
        head_masks: "decoder_self" / "cross" -> (L, H) or (B, L, H), 0 = head ablated."""
        self_heads, cross_heads = (head_masks or {}).get("decoder_self"), (head_masks or {}).get("cross")
        T = words.shape[1]
        if T > self.positions.shape[1]:
            raise ValueError(f"{T} decoder steps exceed the {self.positions.shape[1]} learned positions")
        x = self.dropout(self.embed(words) + self.positions[:, :T])  # (B, T, D)
        causal = torch.ones(T, T, dtype=torch.bool, device=words.device).tril()[None, None]  # (1, 1, T, T)
        selfs, crosses = [], []
        for i, layer in enumerate(self.layers):
            x, self_weights, cross_weights = layer(
                x,
                memory,
                causal,
                None if self_heads is None else self_heads[..., i, :],
                None if cross_heads is None else cross_heads[..., i, :],
            )
            selfs.append(self_weights)
            crosses.append(cross_weights)
        return TransformerCaptionerOutput(
            logits=self.head(self.ln_f(x)),  # (B, T, V)
            self_attentions=torch.stack(selfs, dim=1),  # (B, L, H, T, T)
            cross_attentions=torch.stack(crosses, dim=1),  # (B, L, H, T, P)
        )

    def forward(
        self, features: torch.Tensor, words: torch.Tensor, head_masks: Mapping[str, torch.Tensor] | None = None
    ) -> TransformerCaptionerOutput:
        """features (B, P, F), words (B, T) decoder inputs (<bos> w1 ...) -> TransformerCaptionerOutput.
        head_masks: see decode."""
        return self.decode(self.memory(features), words, head_masks)

    @torch.no_grad()
    def generate(
        self,
        features: torch.Tensor,
        bos: int,
        eos: int,
        max_len: int | None = None,
        head_masks: Mapping[str, torch.Tensor] | None = None,
    ) -> CaptionOutput:
        """Greedy decoding (the prefix is re-run each step: at most 21 steps of a 3-layer decoder).
        head_masks: see decode."""
        B = features.shape[0]
        memory = self.memory(features)  # (B, P, D)
        words = torch.full((B, 1), bos, dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        out: TransformerCaptionerOutput | None = None
        probs = []
        for _ in range(max_len or self.config.max_len + 1):
            out = self.decode(memory, words, head_masks)
            p, word = out.logits[:, -1].softmax(dim=-1).max(dim=-1)
            word = word.masked_fill(done, 0)  # (B,)
            probs.append(p.masked_fill(done, 1.0))
            words = torch.cat([words, word[:, None]], dim=1)  # (B, t + 1)
            done |= word == eos
            if done.all():
                break
        assert out is not None
        spatial = out.cross_attentions.permute(0, 3, 1, 2, 4)  # (B, T, L, H, P)
        return CaptionOutput(tokens=words[:, 1:], spatial=spatial, gates=None, token_probs=torch.stack(probs, dim=1))
