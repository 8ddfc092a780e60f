"""BERT encoder (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers").

Our own post-norm encoder that loads Hugging Face BERT safetensors and returns every
layer's self-attention weights; tests hold it to HF transformers' eager attention.
Dimensions: B batch, T tokens, L layers, H heads, D hidden width.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from models.nets.multihead import MultiHeadAttention


@dataclass
class BertConfig:
    vocab_size: int = 30522  # WordPiece vocabulary size
    hidden_size: int = 384  # D, model width
    num_hidden_layers: int = 6  # L
    num_attention_heads: int = 12  # H
    intermediate_size: int = 1536  # feed-forward width
    max_position_embeddings: int = 512  # longest input, special tokens included
    type_vocab_size: int = 2  # segment ids (sentence A / B)
    layer_norm_eps: float = 1e-12  # as in the original BERT

    @classmethod
    def from_hf_json(cls, path: Path) -> "BertConfig":
        raw = json.loads(path.read_text())
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


@dataclass(frozen=True)
class BertOutput:
    """hidden: (B, T, D) last layer states; attentions: (B, L, H, T, T) self-attention weights."""

    hidden: torch.Tensor
    attentions: torch.Tensor


class BertLayer(nn.Module):
    """Self-attention then feed-forward, each followed by residual + LayerNorm (post-norm)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        d, eps = config.hidden_size, config.layer_norm_eps
        self.attention = MultiHeadAttention(d, config.num_attention_heads)
        self.attention_norm = nn.LayerNorm(d, eps=eps)
        self.ffn_in = nn.Linear(d, config.intermediate_size)
        self.ffn_out = nn.Linear(config.intermediate_size, d)
        self.ffn_norm = nn.LayerNorm(d, eps=eps)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, head_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """head_mask (H,) or (B, H): 0 ablates a head (its output zeroed before the output projection)."""
        context, weights = self.attention(x, x, mask, head_mask)
        x = self.attention_norm(x + context)
        x = self.ffn_norm(x + self.ffn_out(nn.functional.gelu(self.ffn_in(x))))
        return x, weights


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.word = nn.Embedding(config.vocab_size, d)
        self.position = nn.Embedding(config.max_position_embeddings, d)
        self.token_type = nn.Embedding(config.type_vocab_size, d)
        self.embed_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        use_positions: bool = True,
        head_mask: torch.Tensor | None = None,
    ) -> BertOutput:
        """input_ids (B, T); attention_mask (B, T), 1 for real tokens and 0 for padding.

        use_positions=False leaves out the position embeddings: every layer then treats the input as a
        set, and permuting the tokens permutes every attention map the same way (a teaching device).
        head_mask (L, H) or (B, L, H): 0 ablates that head; None runs every head.
        """
        return self.forward_embedded(self.word(input_ids), attention_mask, use_positions, head_mask)

    def forward_embedded(
        self,
        words: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        use_positions: bool = True,
        head_mask: torch.Tensor | None = None,
    ) -> BertOutput:
        """words (B, T, D) word embeddings (what attributions vary); the rest as forward."""
        B, T, _ = words.shape
        if T > self.config.max_position_embeddings:
            raise ValueError(f"{T} tokens exceed {self.config.max_position_embeddings} positions")
        x = words + self.token_type.weight[0]
        if use_positions:
            x = x + self.position(torch.arange(T, device=words.device))
        x = self.embed_norm(x)  # (B, T, D)
        if attention_mask is None:
            attention_mask = torch.ones(B, T, dtype=torch.bool, device=words.device)
        mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T): every query sees real keys
        attentions = []
        for i, layer in enumerate(self.layers):
            x, weights = layer(x, mask, None if head_mask is None else head_mask[..., i, :])
            attentions.append(weights)
        return BertOutput(hidden=x, attentions=torch.stack(attentions, dim=1))  # (B, L, H, T, T)
