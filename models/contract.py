"""What every model hands back to the service: attention tensors with their token labels.

Dimensions: L layers, H heads, R rows (queries), C columns (keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the service imports this file at start-up; torch is loaded with the first model
    import torch

    from models.serve.images import PreprocessedImage

AttentionKind = Literal["self", "encoder_self", "decoder_self", "cross"]


class InputError(ValueError):
    """The input cannot be run through the model; the message tells the user why."""


@dataclass(frozen=True)
class AttentionStack:
    """Every map of one kind.

    weights: (L, H, R, C) float32 softmax weights; row r is query r, column c key c,
    so each row sums to 1 over the keys it may see.
    row_tokens: R labels of the queries; col_tokens: C labels of the keys.
    """

    kind: AttentionKind
    weights: torch.Tensor
    row_tokens: tuple[str, ...]
    col_tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.weights.dim() != 4:
            raise ValueError(f"{self.kind}: expected (L, H, R, C) weights, got {tuple(self.weights.shape)}")
        rows, cols = self.weights.shape[2:]
        if (rows, cols) != (len(self.row_tokens), len(self.col_tokens)):
            raise ValueError(
                f"{self.kind}: weights are {rows}x{cols} but there are "
                f"{len(self.row_tokens)} row and {len(self.col_tokens)} column tokens"
            )


@dataclass(frozen=True)
class TextAttentionOutput:
    """A text model's answer to one input.

    input_tokens: the S source tokens the model read (special tokens included).
    output_tokens / output_text: the T generated tokens and their text, None for encoders.
    stacks: one AttentionStack per attention kind the model has (none for a model without attention).
    note: what a user should know about this answer, e.g. why there are no maps.
    """

    input_tokens: tuple[str, ...]
    output_tokens: tuple[str, ...] | None
    output_text: str | None
    stacks: tuple[AttentionStack, ...]
    note: str | None = None


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
        import torch

        covered = (1 - self.cls_self).clamp_min(torch.finfo(self.patches.dtype).tiny)
        return self.patches / covered[..., None, None]


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


@dataclass(frozen=True)
class CaptionImageAttention:
    """One image captioned, ready for a client.

    image: the preprocessing record and pixels (models.serve.images).
    grid: (h, w) patches; patch (r, c) covers model-input pixels [r * 14, (r + 1) * 14) x [c * 14, (c + 1) * 14).
    tokens: the T generated words (<eos> not included); caption: them joined by spaces.
    spatial: (T, L, H, h, w) attention of the step that produced word t over the patches, per
        decoder layer and head (L = H = 1 for Show-Attend-Tell); each (t, l, h) map sums to 1.
    gates: (T,) Show-Attend-Tell's gating scalar beta_t, None for the Transformer.
    patch_norms: (h, w) L2 norm of each DINOv2 patch token after the last layer (artifact patches).
    known_objects: the nouns the model was trained on.
    pointing_layer: the decoder layer whose mean over heads points best (chosen on validation scenes
        by models/evaluate/captions.py); None for one-map models or weights not evaluated yet.
    """

    image: PreprocessedImage
    grid: tuple[int, int]
    tokens: tuple[str, ...]
    caption: str
    spatial: torch.Tensor
    gates: torch.Tensor | None
    patch_norms: torch.Tensor
    known_objects: tuple[str, ...]
    pointing_layer: int | None = None
