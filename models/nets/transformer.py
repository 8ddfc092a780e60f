"""The encoder-decoder Transformer of Vaswani et al. (2017), "Attention Is All You Need", as the
textbook draws it: multi-head scaled dot-product attention, residual + LayerNorm after every
sub-layer (post-norm), sinusoidal positional encoding, masked decoder self-attention,
cross-attention, and the warm-up learning-rate schedule. Every attention weight is returned.

Dimensions: B batch, S source length, T target length, L layers, H heads, D model width, V vocabulary.
"""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from models.nets.multihead import MultiHeadAttention

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass
class TransformerConfig:
    vocab_size: int = 8000  # shared SentencePiece vocabulary, one tied embedding matrix
    d_model: int = 256  # D
    n_heads: int = 4  # H, d_model / H = 64 per head
    encoder_layers: int = 3
    decoder_layers: int = 3
    d_ffn: int = 1024  # feed-forward width, ReLU
    dropout: float = 0.1  # on embeddings, attention outputs and FFN outputs (training only)
    max_positions: int = 512  # longest sequence the positional table covers
    positional: bool = True  # False drops positions: self-attention becomes permutation-equivariant
    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3


def sinusoidal_encoding(length: int, d_model: int) -> torch.Tensor:
    """(length, D): PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D))."""
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (length, 1)
    rates = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * -(math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * rates)
    table[:, 1::2] = torch.cos(position * rates)
    return table


def warmup_lr(step: int, d_model: int, warmup: int) -> float:
    """lr = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) (Vaswani et al. 2017, eq. 3)."""
    step = max(step, 1)
    return d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def causal_mask(T: int) -> torch.Tensor:
    """(T, T) True where query t may see key u, i.e. u <= t."""
    return torch.ones(T, T, dtype=torch.bool).tril()


@dataclass(frozen=True)
class TransformerOutput:
    """Teacher-forced pass.

    logits: (B, T, V), or (B, R, V) when only R logit_rows were asked for.
    encoder_attentions: (B, L_enc, H, S, S); padding keys get exactly 0.
    decoder_attentions: (B, L_dec, H, T, T) masked self-attention: exactly 0 above the diagonal.
    cross_attentions: (B, L_dec, H, T, S); row t is decoder position t over the source.
    """

    logits: torch.Tensor
    encoder_attentions: torch.Tensor
    decoder_attentions: torch.Tensor
    cross_attentions: torch.Tensor


@dataclass(frozen=True)
class TransformerGeneration:
    """tokens: (B, T) greedy output ids, EOS included, pad after it (run forward() on them for the maps)."""

    tokens: torch.Tensor


class FeedForward(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(config.d_model, config.d_ffn)
        self.w2 = nn.Linear(config.d_ffn, config.d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(self.drop(F.relu(self.w1(x))))


class EncoderLayer(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttention(config.d_model, config.n_heads)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.ffn = FeedForward(config)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, head_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """head_mask (H,) or (B, H): 0 ablates a head (output zeroed before the output projection)."""
        context, weights = self.self_attention(x, x, mask, head_mask)
        x = self.norm1(x + self.drop(context))
        return self.norm2(x + self.drop(self.ffn(x))), weights


class DecoderLayer(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttention(config.d_model, config.n_heads)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.cross_attention = MultiHeadAttention(config.d_model, config.n_heads)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.ffn = FeedForward(config)
        self.norm3 = nn.LayerNorm(config.d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self,
        y: torch.Tensor,
        memory: torch.Tensor,
        self_mask: torch.Tensor,
        source_mask: torch.Tensor,
        self_heads: torch.Tensor | None = None,
        cross_heads: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """self_heads, cross_heads (H,) or (B, H): 0 ablates that head of the self- or cross-attention."""
        context, self_weights = self.self_attention(y, y, self_mask, self_heads)
        y = self.norm1(y + self.drop(context))
        context, cross_weights = self.cross_attention(y, memory, source_mask, cross_heads)
        y = self.norm2(y + self.drop(context))
        return self.norm3(y + self.drop(self.ffn(y))), self_weights, cross_weights


class Transformer(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.positions: torch.Tensor
        self.register_buffer("positions", sinusoidal_encoding(config.max_positions, config.d_model), persistent=False)
        self.encoder = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.out_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.drop = nn.Dropout(config.dropout)
        nn.init.normal_(self.embedding.weight, std=config.d_model**-0.5)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> (B, T, D): embeddings scaled by sqrt(D), plus positions unless disabled."""
        x = self.embedding(ids) * math.sqrt(self.config.d_model)
        if self.config.positional:
            x = x + self.positions[: ids.shape[1]]
        return self.drop(x)

    def encode(
        self, src: torch.Tensor, head_mask: torch.Tensor | None = None, source_embeddings: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """src (B, S) -> memory (B, S, D), source mask (B, 1, 1, S), attentions (B, L, H, S, S).

        head_mask (L, H) or (B, L, H): 0 ablates a head. source_embeddings (B, S, D): scaled word embeddings to
        use instead of src's (attributions vary them); positions are added as usual.
        """
        source_mask = (src != self.config.pad_id)[:, None, None, :]
        if source_embeddings is None:
            x = self.embed(src)
        else:
            x = source_embeddings + self.positions[: src.shape[1]] if self.config.positional else source_embeddings
            x = self.drop(x)
        attentions = []
        for i, layer in enumerate(self.encoder):
            x, weights = layer(x, source_mask, None if head_mask is None else head_mask[..., i, :])
            attentions.append(weights)
        return x, source_mask, torch.stack(attentions, dim=1)

    def decode(
        self,
        tgt_in: torch.Tensor,
        memory: torch.Tensor,
        source_mask: torch.Tensor,
        head_masks: Mapping[str, torch.Tensor] | None = None,
        logit_rows: Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tgt_in (B, T) -> logits (B, T, V), self (B, L, H, T, T) and cross (B, L, H, T, S) attentions.
        head_masks: "decoder_self" / "cross" -> (L, H) or (B, L, H), 0 = head ablated.
        logit_rows: only these R target positions are projected to the vocabulary (logits (B, R, V))."""
        self_mask = causal_mask(tgt_in.shape[1]).to(tgt_in.device)[None, None]  # (1, 1, T, T)
        y = self.embed(tgt_in)
        self_heads, cross_heads = (head_masks or {}).get("decoder_self"), (head_masks or {}).get("cross")
        self_attentions, cross_attentions = [], []
        for i, layer in enumerate(self.decoder):
            y, self_weights, cross_weights = layer(
                y,
                memory,
                self_mask,
                source_mask,
                None if self_heads is None else self_heads[..., i, :],
                None if cross_heads is None else cross_heads[..., i, :],
            )
            self_attentions.append(self_weights)
            cross_attentions.append(cross_weights)
        if logit_rows is not None:
            y = y[:, list(logit_rows)]  # (B, R, D)
        logits = F.linear(y, self.embedding.weight, self.out_bias)  # tied output projection
        return logits, torch.stack(self_attentions, dim=1), torch.stack(cross_attentions, dim=1)

    def forward(
        self,
        src: torch.Tensor,
        tgt_in: torch.Tensor,
        head_masks: Mapping[str, torch.Tensor] | None = None,
        source_embeddings: torch.Tensor | None = None,
        logit_rows: Sequence[int] | None = None,
    ) -> TransformerOutput:
        """head_masks: kind ("encoder_self", "decoder_self", "cross") -> (L, H) or (B, L, H), 0 = head ablated;
        source_embeddings: see encode; logit_rows: see decode."""
        masks = head_masks or {}
        memory, source_mask, encoder_attentions = self.encode(src, masks.get("encoder_self"), source_embeddings)
        logits, decoder_attentions, cross_attentions = self.decode(tgt_in, memory, source_mask, masks, logit_rows)
        return TransformerOutput(logits, encoder_attentions, decoder_attentions, cross_attentions)

    @torch.no_grad()
    def greedy(
        self, src: torch.Tensor, max_len: int | None = None, head_masks: Mapping[str, torch.Tensor] | None = None
    ) -> "TransformerGeneration":
        """src (B, S) -> generated ids (B, T), EOS included, pad after it. head_masks: see forward."""
        memory, source_mask, _ = self.encode(src, (head_masks or {}).get("encoder_self"))
        B = src.shape[0]
        max_len = max_len or 2 * src.shape[1] + 10
        ys = torch.full((B, 1), self.config.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits, _, _ = self.decode(ys, memory, source_mask, head_masks)
            next_ids = logits[:, -1].argmax(-1)
            next_ids = torch.where(done, torch.full_like(next_ids, self.config.pad_id), next_ids)
            ys = torch.cat([ys, next_ids[:, None]], dim=1)
            done |= next_ids == self.config.eos_id
            if done.all():
                break
        return TransformerGeneration(tokens=ys[:, 1:])

    def save_pretrained(self, folder: Path, dtype: torch.dtype = torch.float16) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to(dtype).contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE))
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, folder: Path) -> "Transformer":
        config = TransformerConfig(**json.loads((folder / CONFIG_FILE).read_text()))
        model = cls(config)
        model.load_state_dict({k: v.float() for k, v in load_file(str(folder / WEIGHTS_FILE)).items()})
        return model.eval()
