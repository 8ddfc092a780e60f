"""Whisper (Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak Supervision"): a
Transformer encoder over log-mel frames and a Transformer decoder with masked self-attention and
cross-attention over the encoded audio, pre-norm throughout (openai-whisper's `model.py`, MIT).

Encoder: two 1-D convolutions (kernel 3; the second with stride 2, so one encoder frame covers 20 ms),
GELU after each, fixed sinusoidal positions, pre-norm blocks, a final layer norm. Decoder: learned token
and position embeddings, pre-norm blocks (self-attention, cross-attention, MLP), a final layer norm, logits
through the token embedding (tied). Every attention is multihead.MultiHeadAttention: the explicit
softmax(q k^T / sqrt(Dh)) whose weights are returned; Whisper's key projection has no bias (ours holds zeros).

Dimensions: B batch, M mel bins, F mel frames (3000 for 30 s), S encoder frames (F / 2), T decoder tokens,
L layers, H heads, D model width, Dh = D / H, V vocabulary.
"""

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from models.nets.multihead import MultiHeadAttention


@dataclass(frozen=True)
class WhisperConfig:
    n_mels: int = 80  # log-mel bins of the input
    n_audio_ctx: int = 1500  # encoder positions: 30 s of audio at 20 ms per frame
    n_text_ctx: int = 448  # decoder positions
    d_model: int = 384  # width of both stacks (tiny)
    n_heads: int = 6  # heads of every attention
    n_audio_layers: int = 4  # encoder blocks
    n_text_layers: int = 4  # decoder blocks
    vocab_size: int = 51864  # tokens of the English-only models (GPT-2 BPE + specials + timestamps)
    eps: float = 1e-5  # layer norm epsilon


class MLP(nn.Module):
    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, 4 * d_model)
        self.fc2 = nn.Linear(4 * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


KeyValues = tuple[torch.Tensor, torch.Tensor]  # projected keys and values, each (B, H, S, Dh)


class Block(nn.Module):
    """One pre-norm block: self-attention, then (decoder only) cross-attention, then the MLP."""

    def __init__(self, config: WhisperConfig, cross: bool) -> None:
        super().__init__()
        D = config.d_model
        self.attn_ln = nn.LayerNorm(D, eps=config.eps)
        self.attn = MultiHeadAttention(D, config.n_heads)
        self.cross_ln = nn.LayerNorm(D, eps=config.eps) if cross else None
        self.cross_attn = MultiHeadAttention(D, config.n_heads) if cross else None
        self.mlp_ln = nn.LayerNorm(D, eps=config.eps)
        self.mlp = MLP(D)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        past: KeyValues | None = None,
        audio_kv: KeyValues | None = None,
        self_mask: torch.Tensor | None = None,
        cross_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, KeyValues]:
        """x (B, T, D); past: this block's cached self-attention keys/values of earlier positions;
        audio_kv: the cross-attention keys/values of the encoded audio (decoder blocks); self_mask, cross_mask
        (H,): 0 switches a head off (its output zeroed before the output projection; its weights are still
        returned).

        Returns x (B, T, D), self weights (B, H, T, past + T), cross weights (B, H, T, S) or None,
        and the self-attention keys/values up to and including these positions (the next step's past).
        """
        h = self.attn_ln(x)
        k, v = self.attn.project_keys(h)  # (B, H, T, Dh) each
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # (B, H, past + T, Dh)
        context, self_weights = self.attn.attend(h, k, v, mask, self_mask)
        x = x + context
        cross_weights = None
        if self.cross_attn is not None and self.cross_ln is not None:
            if audio_kv is None:
                raise ValueError("a decoder block needs the audio keys and values")
            context, cross_weights = self.cross_attn.attend(self.cross_ln(x), *audio_kv, None, cross_mask)
            x = x + context
        x = x + self.mlp(self.mlp_ln(x))
        return x, self_weights, cross_weights, (k, v)


@dataclass(frozen=True)
class EncoderOutput:
    """audio: (B, S, D) the encoded frames; attentions: (B, L, H, S, S) every self-attention map."""

    audio: torch.Tensor
    attentions: torch.Tensor


def blocks_of(blocks: nn.ModuleList) -> list[Block]:
    """The blocks of a stack, typed."""
    return [cast(Block, block) for block in blocks]


class AudioEncoder(nn.Module):
    positions: torch.Tensor  # (S, D) buffer

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        D = config.d_model
        self.conv1 = nn.Conv1d(config.n_mels, D, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(D, D, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(config.n_audio_ctx, D))  # (S, D) sinusoids, read from weights
        self.blocks = nn.ModuleList(Block(config, cross=False) for _ in range(config.n_audio_layers))
        self.ln_post = nn.LayerNorm(D, eps=config.eps)

    def forward(self, mel: torch.Tensor, head_mask: torch.Tensor | None = None) -> EncoderOutput:
        """mel: (B, M, F) log-mel frames, F = 2 x n_audio_ctx; head_mask (L, H): 0 switches a head off."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel))))  # (B, D, S)
        x = x.transpose(1, 2)  # (B, S, D)
        if x.shape[1] != self.positions.shape[0]:
            raise ValueError(f"the encoder takes {2 * self.positions.shape[0]} mel frames, got {mel.shape[-1]}")
        x = x + self.positions
        weights = []
        for i, block in enumerate(self.blocks):
            x, w, _, _ = block(x, self_mask=None if head_mask is None else head_mask[i])
            weights.append(w)  # (B, H, S, S)
        return EncoderOutput(self.ln_post(x), torch.stack(weights, dim=1))  # (B, L, H, S, S)


@dataclass
class DecoderCache:
    """What incremental decoding keeps between steps: per block, the self-attention keys/values of the
    positions seen so far and the cross-attention keys/values of the audio (computed once)."""

    audio_kv: list[KeyValues]
    self_kv: list[KeyValues | None]

    @property
    def length(self) -> int:
        first = self.self_kv[0]
        return 0 if first is None else int(first[0].shape[2])


@dataclass(frozen=True)
class DecoderOutput:
    """logits: (B, T, V) float32; self_attentions: (B, L, H, T, past + T), exactly 0 above the diagonal;
    cross_attentions: (B, L, H, T, S) over the encoder frames."""

    logits: torch.Tensor
    self_attentions: torch.Tensor
    cross_attentions: torch.Tensor


class TextDecoder(nn.Module):
    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        D = config.d_model
        self.token_embedding = nn.Embedding(config.vocab_size, D)
        self.positions = nn.Parameter(torch.zeros(config.n_text_ctx, D))  # (n_text_ctx, D) learned
        self.blocks = nn.ModuleList(Block(config, cross=True) for _ in range(config.n_text_layers))
        self.ln = nn.LayerNorm(D, eps=config.eps)

    def start(self, audio: torch.Tensor) -> DecoderCache:
        """audio (B, S, D) -> a cache with the cross-attention keys/values of every block."""
        audio_kv = []
        for block in blocks_of(self.blocks):
            assert block.cross_attn is not None
            audio_kv.append(block.cross_attn.project_keys(audio))  # (B, H, S, Dh) each
        return DecoderCache(audio_kv, [None] * len(self.blocks))

    def forward(
        self,
        tokens: torch.Tensor,
        cache: DecoderCache,
        self_mask: torch.Tensor | None = None,
        cross_mask: torch.Tensor | None = None,
    ) -> DecoderOutput:
        """tokens (B, T): the next T input tokens after the cache's positions; the cache is advanced.
        self_mask, cross_mask (L, H): 0 switches that self- or cross-attention head off."""
        B, T = tokens.shape
        offset = cache.length
        if offset + T > self.positions.shape[0]:
            raise ValueError(f"the decoder reads at most {self.positions.shape[0]} tokens, got {offset + T}")
        x = self.token_embedding(tokens) + self.positions[offset : offset + T]  # (B, T, D)
        # Query t (absolute offset + t) may see keys 0 .. offset + t.
        mask = torch.ones(T, offset + T, dtype=torch.bool).tril(diagonal=offset)  # (T, past + T)
        self_weights, cross_weights = [], []
        for i, block in enumerate(self.blocks):
            masks = (None if m is None else m[i] for m in (self_mask, cross_mask))
            x, w_self, w_cross, cache.self_kv[i] = block(x, mask, cache.self_kv[i], cache.audio_kv[i], *masks)
            assert w_cross is not None  # every decoder block has cross-attention
            self_weights.append(w_self)  # (B, H, T, past + T)
            cross_weights.append(w_cross)  # (B, H, T, S)
        logits = self.ln(x) @ self.token_embedding.weight.T  # (B, T, V)
        return DecoderOutput(logits.float(), torch.stack(self_weights, dim=1), torch.stack(cross_weights, dim=1))


class Whisper(nn.Module):
    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = AudioEncoder(config)
        self.decoder = TextDecoder(config)
