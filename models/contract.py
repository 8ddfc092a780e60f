"""What every model hands back to the service: attention tensors with their token labels (text) or
patch grids (images), and the two protocols a served model follows.

Dimensions: L layers, H heads, R rows (queries), C columns (keys), T generated tokens,
(h, w) the patch grid of an image, N image tokens (prefix tokens + h * w patches); audio's are at AudioAttentionOutput.
Importing this file loads neither torch nor numpy: the service starts without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:  # the service imports this file at start-up; torch is loaded with the first model
    import numpy as np
    import torch

AttentionKind = Literal["self", "encoder_self", "decoder_self", "cross"]  # the kinds of an AttentionStack
ModelAttentionKind = Literal[AttentionKind, "spatial"]  # what a catalog entry may list: + caption word -> patches


class InputError(ValueError):
    """The input cannot be run through the model; the message tells the user why."""


class ImageInputError(InputError):
    """The upload cannot be used as an image; the message says why and what to send instead."""


class AudioInputError(InputError):
    """The upload cannot be used as audio; the message says why and what to send instead."""


# --- Text ---


@dataclass(frozen=True)
class AttentionStack:
    """Every map of one kind.

    weights: (L, H, R, C) float32 softmax weights; row r is query r, column c key c,
    so each row sums to 1 over the keys it may see.
    row_tokens: R labels of the queries; col_tokens: C labels of the keys.
    layer_ids / head_ids: the model's layer (head) number of each index of the first (second) axis, when a
    model computed only some of them (long inputs of a large model); None: all, in order.
    """

    kind: AttentionKind
    weights: torch.Tensor
    row_tokens: tuple[str, ...]
    col_tokens: tuple[str, ...]
    layer_ids: tuple[int, ...] | None = None
    head_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.weights.dim() != 4:
            raise ValueError(f"{self.kind}: expected (L, H, R, C) weights, got {tuple(self.weights.shape)}")
        for ids, axis, what in ((self.layer_ids, 0, "layer_ids"), (self.head_ids, 1, "head_ids")):
            if ids is not None and len(ids) != self.weights.shape[axis]:
                raise ValueError(f"{self.kind}: {len(ids)} {what} for {self.weights.shape[axis]} maps on axis {axis}")
        rows, cols = self.weights.shape[2:]
        if (rows, cols) != (len(self.row_tokens), len(self.col_tokens)):
            raise ValueError(
                f"{self.kind}: weights are {rows}x{cols} but there are "
                f"{len(self.row_tokens)} row and {len(self.col_tokens)} column tokens"
            )

    def layers(self) -> tuple[int, ...]:
        """The model's layer number of each map along the first axis."""
        return self.layer_ids if self.layer_ids is not None else tuple(range(self.weights.shape[0]))

    def heads(self) -> tuple[int, ...]:
        """The model's head number of each map along the second axis."""
        return self.head_ids if self.head_ids is not None else tuple(range(self.weights.shape[1]))


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


# --- Images ---


@dataclass(frozen=True)
class PreprocessRecord:
    """What was done to the upload, so a client can place the patch grid on the original image
    (models/serve/images.py does it). Sizes are (width, height) like Pillow.

    format: Pillow's name of the decoder ("JPEG", "PNG", ...); mode: the stored pixel mode ("RGB", "CMYK", "I;16", ...).
    original_size: (width, height) as stored in the file.
    exif_orientation: the EXIF orientation applied (1 = none); upright_size: (width, height) after it.
    multi_frame: True when the file held more frames or pages and only the first was used.
    alpha_composited: True when transparency was composited on white.
    crop_box: (left, top, right, bottom) in upright pixels, floats: the region that became the model input.
    scale: model-input pixels per upright pixel.
    final_size: (width, height) of the model input, multiples of the patch size.
    """

    format: str
    mode: str
    original_size: tuple[int, int]
    exif_orientation: int
    upright_size: tuple[int, int]
    multi_frame: bool
    alpha_composited: bool
    crop_box: tuple[float, float, float, float]
    scale: float
    final_size: tuple[int, int]


@dataclass(frozen=True)
class PreprocessedImage:
    """pixels: (3, height, width) float32, ImageNet-normalised (model input, no batch axis).
    rgb: (height, width, 3) uint8, the same crop before normalisation (what the model saw).
    record: the PreprocessRecord.
    """

    pixels: np.ndarray
    rgb: np.ndarray
    record: PreprocessRecord


@dataclass(frozen=True)
class ClsAttentionMaps:
    """Where the class token looks, as a patch grid; the weights are raw, NOT renormalised over patches.

    patches: (..., h, w) the class token's softmax weight on each patch, e.g. (L, H, h, w) per
        head, (L, h, w) after mean_over_heads or for a rollout.
    cls_self: (...) the weight the class token keeps on itself (and on any other prefix token), so that
        patches.sum((-2, -1)) + cls_self == 1: a map covers 1 - cls_self of the attention.
    """

    patches: torch.Tensor
    cls_self: torch.Tensor

    def renormalised(self) -> torch.Tensor:
        """(..., h, w) the patch weights divided by what they cover, so each map sums to 1."""
        import torch

        covered = (1 - self.cls_self).clamp_min(torch.finfo(self.patches.dtype).tiny)
        return self.patches / covered[..., None, None]


@dataclass(frozen=True, kw_only=True)
class ImageAttentionOutput:
    """An image model's answer to one upload: a vision backbone's class-token maps, or a captioner's
    caption with one spatial map per generated token. Fields of the other kind of model are None.

    image: the preprocessing record and the pixels the model saw.
    grid: (h, w) patches; patch (r, c) covers model-input pixels [r * p, (r + 1) * p) x [c * p, (c + 1) * p),
        p the patch size (14 for DINOv2).
    caption: the generated text; tokens: the T generated tokens; both None for backbones.

    Backbones (None for captioners):
    attentions: (L, H, N, N) every self-attention map, prefix tokens (class token first) before the patches.
    cls_maps: patches (L, H, h, w) the class token's raw weights per head, cls_self (L, H).
    rollout_maps: patches (L, h, w) the class-token row of attention rollout through each layer, cls_self (L,).

    Captioners (None for backbones, unless said otherwise):
    spatial: (T, L, H, h, w) the attention of the step that produced token t over the patches, per decoder
        layer and head (L = H = 1 for Show-Attend-Tell).
    non_patch: (T, L, H) the weight that step puts on the encoder's non-patch tokens (class token), so
        spatial.sum((-2, -1)) + non_patch == 1; None when the decoder sees patches only: each map sums to 1.
    gates: (T,) Show-Attend-Tell's gating scalar beta_t; None for other captioners.
    known_objects: the nouns the captioner was trained on; () when it was not trained here (and for backbones).
    pointing_layer: the decoder layer whose mean over heads points best (chosen on validation scenes by
        models/evaluate/captions.py); None for one-map models, weights not evaluated yet, and backbones.
    token_probs: (T,) the probability the decoder gave each generated token when it chose it; None where
        the model does not record it.
    stop_prob: the probability the decoder gave <eos> where the caption ended; None where it did not end
        (the length limit) or the model does not record it.
    unsure_below: the confidence (geometric mean of token_probs and stop_prob) under which the captioner's words are
        unlikely, calibrated on validation data (models/evaluate/caption_confidence.py); None when not
        calibrated.
    beam: the beam width the caption was decoded with (1: greedy); None where not known (backbones, Hugging Face
        captioners).

    Both:
    patch_norms: (h, w) L2 norm of each patch token after the last encoder layer, where the high-norm
        artifact patches stand out; None when the model does not expose it (Hugging Face captioners).
    """

    image: PreprocessedImage
    grid: tuple[int, int]
    caption: str | None = None
    tokens: tuple[str, ...] | None = None
    attentions: torch.Tensor | None = None
    cls_maps: ClsAttentionMaps | None = None
    rollout_maps: ClsAttentionMaps | None = None
    spatial: torch.Tensor | None = None
    non_patch: torch.Tensor | None = None
    gates: torch.Tensor | None = None
    patch_norms: torch.Tensor | None = None
    known_objects: tuple[str, ...] = ()
    pointing_layer: int | None = None
    token_probs: torch.Tensor | None = None
    stop_prob: float | None = None
    unsure_below: float | None = None
    beam: int | None = None

    def caption_probs(self) -> list[float] | None:
        """What a caption's confidence averages: every word's probability, then the probability of stopping
        there (so a caption cut short, such as "a", is not confident just because "a" is likely); None when the
        model records no probabilities; [] for an empty caption (nothing said: confidence 0)."""
        if self.token_probs is None:
            return None
        if not self.tokens:
            return []
        return [float(p) for p in self.token_probs] + ([] if self.stop_prob is None else [self.stop_prob])

    def __post_init__(self) -> None:
        h, w = self.grid
        if self.spatial is None:
            if self.cls_maps is None or self.rollout_maps is None:
                raise ValueError("an image output needs spatial maps (captioner) or class-token and rollout maps")
            if tuple(self.cls_maps.patches.shape[-2:]) != (h, w) or self.cls_maps.patches.dim() != 4:
                raise ValueError(f"cls_maps are {tuple(self.cls_maps.patches.shape)}, expected (L, H, {h}, {w})")
            if self.caption is not None or self.tokens is not None:
                raise ValueError("a backbone output has no caption or tokens")
            return
        T = len(self.tokens or ())
        if self.caption is None or self.tokens is None or self.cls_maps is not None:
            raise ValueError("a captioner output needs a caption and tokens, and has no class-token maps")
        if self.spatial.dim() != 5 or self.spatial.shape[0] != T or tuple(self.spatial.shape[-2:]) != (h, w):
            raise ValueError(f"spatial maps are {tuple(self.spatial.shape)}, expected ({T}, L, H, {h}, {w})")
        if self.non_patch is not None and self.non_patch.shape != self.spatial.shape[:3]:
            raise ValueError(f"non_patch is {tuple(self.non_patch.shape)}, expected {tuple(self.spatial.shape[:3])}")
        if self.gates is not None and tuple(self.gates.shape) != (T,):
            raise ValueError(f"gates are {tuple(self.gates.shape)}, expected ({T},)")


# --- Audio ---


@dataclass(frozen=True)
class AudioRecord:
    """What was done to the upload: format (the decoder's name, "WAV", "FLAC", "MP3", ...), subtype
    (its sample encoding, "PCM_16", ...), the stored sample rate and channel count, duration in seconds,
    and whether the channels were mixed down and the rate converted to the model's."""

    format: str
    subtype: str
    sample_rate: int
    channels: int
    duration_s: float
    mixed_down: bool
    resampled: bool


@dataclass(frozen=True)
class WordTiming:
    """One word of the transcript placed on the audio: its text (leading space kept, punctuation merged),
    the indices of its tokens in AudioAttentionOutput.tokens, start and end in seconds, the mean
    probability the model gave its tokens, and the times dynamic time warping gave before they were
    moved into pauses (equal to start and end when they were not moved)."""

    word: str
    token_indices: tuple[int, ...]
    start: float
    end: float
    probability: float
    dtw_start: float
    dtw_end: float


@dataclass(frozen=True, kw_only=True)
class AudioAttentionOutput:
    """A speech model's answer to one clip. F audio frames (20 ms each) of the clip; S >= F encoder frames
    (30 s padded: Whisper always reads 30 s, the rest is silence); P decoder positions; L, H layers and heads.

    samples: (N,) float32 mono waveform at sample_rate (what the model heard, before padding).
    mel: (M, 2F) float32 log-mel frames of the clip (10 ms each) as the encoder read them (M = 80 bins).
    record: what was done to the upload.
    frame_seconds: seconds per encoder frame (0.02); audio_frames: F.
    transcript: the decoded text; tokens: the P decoder input tokens (prompt then text);
    output_tokens: the P tokens those positions produced (position p produced output_tokens[p]).
    encoder_self: (L, H, F, F + 1) encoder self-attention of the clip's frames, the last column the summed
        weight on the S - F padding frames, so every row sums to 1.
    decoder_self: (L, H, P, P) masked decoder self-attention, exactly 0 above the diagonal.
    cross: (L, H, P, F + 1) cross-attention of each position over the clip's frames, last column the
        padding frames' total, so every row sums to 1.
    alignment_heads: the (layer, head) pairs used for word timings; words: the timed words.
    """

    samples: np.ndarray
    mel: np.ndarray
    sample_rate: int
    record: AudioRecord
    frame_seconds: float
    audio_frames: int
    transcript: str
    tokens: tuple[str, ...]
    output_tokens: tuple[str, ...]
    encoder_self: torch.Tensor
    decoder_self: torch.Tensor
    cross: torch.Tensor
    alignment_heads: tuple[tuple[int, int], ...]
    words: tuple[WordTiming, ...]

    def __post_init__(self) -> None:
        F, P = self.audio_frames, len(self.tokens)
        if len(self.output_tokens) != P:
            raise ValueError(f"{P} input tokens but {len(self.output_tokens)} output tokens")
        for name, tensor, rows, cols in (
            ("encoder_self", self.encoder_self, F, F + 1),
            ("decoder_self", self.decoder_self, P, P),
            ("cross", self.cross, P, F + 1),
        ):
            if tensor.dim() != 4 or tuple(tensor.shape[2:]) != (rows, cols):
                raise ValueError(f"{name} is {tuple(tensor.shape)}, expected (L, H, {rows}, {cols})")


# --- What a served model is ---


class TextModel(Protocol):
    """A text model (catalog task encoder, decoder or translation). Raises InputError for text it cannot
    read. A model whose catalog entry declares options (ModelSpec.options, e.g. "beam") also takes them
    as keyword arguments: attend(text, beam=4)."""

    def attend(self, text: str, /) -> TextAttentionOutput: ...


class ImageModel(Protocol):
    """An image model (catalog task vision or captioning): image file bytes in; raises ImageInputError
    for bytes that are not a usable image."""

    def attend(self, data: bytes, /) -> ImageAttentionOutput: ...


class AudioModel(Protocol):
    """A speech model (catalog task speech): audio file bytes in; raises AudioInputError for bytes that are
    not usable audio."""

    def attend(self, data: bytes, /) -> AudioAttentionOutput: ...


ServedModel = TextModel | ImageModel | AudioModel  # what a catalog loader returns; the entry's task says which
