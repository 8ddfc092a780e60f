"""Model output -> wire maps. The only place where tensors become JSON."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.schemas import Encoding
from app.services.encoding import DECIMALS, encode_maps
from models.contract import (
    AttentionStack,
    ClsAttentionMaps,
    ImageAttentionOutput,
    InputError,
    PreprocessRecord,
    TextAttentionOutput,
)
from models.readouts import caption_confidence, merge_words

if TYPE_CHECKING:  # numpy and torch load with the first model, not at start-up
    import numpy as np
    import torch


def select_indices(requested: Sequence[int] | None, available: int) -> list[int]:
    """Sorted unique requested indices that exist; all when none were requested."""
    if requested is None:
        return list(range(available))
    return sorted({i for i in requested if 0 <= i < available})


def check_indices(requested: Sequence[int] | None, available: int, what: str) -> None:
    """InputError naming the allowed range when a requested index exists in no stack."""
    bad = [i for i in requested or () if not 0 <= i < available]
    if bad:
        raise InputError(f"{what} {bad[0]} does not exist; this model has {what}s 0-{available - 1}.")


def _positions(requested: Sequence[int] | None, held: tuple[int, ...]) -> list[int] | None:
    """Where the requested model indices sit on a stack's axis that holds `held` (those it lacks are skipped)."""
    return None if requested is None else [held.index(i) for i in requested if i in held]


def stack_maps(
    stack: AttentionStack, layers: list[int], heads: list[int], encoding: Encoding = "json"
) -> list[dict[str, Any]]:
    """One wire map per selected (layer, head) of a stack: model layer and head numbers, which must be in the
    stack (a model that computed only some layers numbers them in AttentionStack.layer_ids / head_ids)."""
    rows, cols = stack.weights.shape[2:]
    layer_at, head_at = stack.layers().index, stack.heads().index
    chosen = stack.weights[[layer_at(i) for i in layers]][:, [head_at(i) for i in heads]]  # (l, h, R, C)
    encoded = encode_maps(chosen.reshape(-1, rows, cols), encoding)  # row-major over (layer, head)
    row_tokens, col_tokens = list(stack.row_tokens), list(stack.col_tokens)
    return [
        {
            "kind": stack.kind,
            "layer": layer,
            "head": head,
            "shape": [rows, cols],
            "row_tokens": row_tokens,
            "col_tokens": col_tokens,
            **encoded[i * len(heads) + j],
        }
        for i, layer in enumerate(layers)
        for j, head in enumerate(heads)
    ]


def text_response(
    model_id: str,
    output: TextAttentionOutput,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    kinds: Sequence[str] | None = None,
    encoding: Encoding = "json",
    word_level: bool = False,
) -> dict[str, Any]:
    """The body of POST /api/attention/text (see app.schemas.TextAttentionResponse).

    A layer or head index applies to every kind that has it (cross-attention may have fewer layers
    than encoder self-attention); an index that no kind has is an InputError.
    """
    stacks = [s for s in output.stacks if kinds is None or s.kind in kinds]
    if word_level:
        stacks = [merge_words(s) for s in stacks]
    if kinds is not None and not stacks and output.stacks:
        have = ", ".join(s.kind for s in output.stacks) or "none"
        raise InputError(f"This model has no {'/'.join(kinds)} attention; it has: {have}.")
    check_indices(layers, max((max(s.layers(), default=-1) + 1 for s in stacks), default=0), "layer")
    check_indices(heads, max((max(s.heads(), default=-1) + 1 for s in stacks), default=0), "head")
    maps: list[dict[str, Any]] = []
    for stack in stacks:
        held_layers, held_heads = stack.layers(), stack.heads()
        chosen_layers = [held_layers[i] for i in select_indices(_positions(layers, held_layers), len(held_layers))]
        chosen_heads = [held_heads[i] for i in select_indices(_positions(heads, held_heads), len(held_heads))]
        maps += stack_maps(stack, chosen_layers, chosen_heads, encoding)
    return {
        "model": model_id,
        "input_tokens": list(output.input_tokens),
        "output_tokens": None if output.output_tokens is None else list(output.output_tokens),
        "output_text": output.output_text,
        "note": output.note,
        "maps": maps,
    }


# --- Images ---

ARTIFACT_NORM_RATIO = 2.0  # a patch is an "artifact" when its token norm is over this many times the median
ARTIFACT_RULE = (
    f"patch token L2 norm after the last layer > {ARTIFACT_NORM_RATIO:g} x the median patch norm of this image "
    "(Darcet et al. 2024's high-norm tokens)"
)


@dataclass(frozen=True)
class _ImageMaps:
    """The part of an image body that differs between backbones and captioners."""

    h: int  # patch rows
    w: int  # patch columns
    covers: str  # what each map is a distribution over, in one sentence
    maps: list[dict[str, Any]]  # the selected wire maps


def _grid_map(kind: str, layer: int, head: int | None, values: "np.ndarray", cls_self: float) -> dict[str, Any]:
    """values: (h, w) numpy array already rounded."""
    return {
        "kind": kind,
        "step": None,
        "layer": layer,
        "head": head,
        "shape": list(values.shape),
        "values": values.tolist(),
        "cls_self": round(float(cls_self), DECIMALS),
    }


def _preprocessing(record: PreprocessRecord) -> dict[str, Any]:
    return {
        "format": record.format,
        "mode": record.mode,
        "stored_size": [record.original_size[1], record.original_size[0]],
        "exif_orientation": record.exif_orientation,
        "multi_frame": record.multi_frame,
        "alpha_composited": record.alpha_composited,
        "crop_box": [round(float(v), 3) for v in record.crop_box],
        "scale": round(record.scale, DECIMALS),
        "resample": "bicubic",
        "normalisation": "ImageNet mean and standard deviation",
    }


def _spatial_map(step: int, layer: int | None, head: int | None, values: "np.ndarray") -> dict[str, Any]:
    """values: (h, w) numpy array already rounded."""
    return {
        "kind": "spatial",
        "step": step,
        "layer": layer,
        "head": head,
        "shape": list(values.shape),
        "values": values.tolist(),
        "cls_self": None,
    }


def _caption_maps(
    spatial: "torch.Tensor", has_non_patch: bool, layers: Sequence[int] | None, heads: Sequence[int] | None
) -> _ImageMaps:
    """Captioners: per generated word (step), each selected layer's per-head maps then their mean over ALL
    heads (head null). A model with one attention map per step (Show-Attend-Tell) has layer and head null.

    spatial: (T, L, H, h, w). has_non_patch: the step also attends to non-patch encoder tokens, so a map
    sums to 1 minus that weight.
    """
    spatial = spatial.double()
    T, n_layers, n_heads, h, w = spatial.shape
    check_indices(layers, n_layers, "layer")
    check_indices(heads, n_heads, "head")
    single = n_layers == 1 and n_heads == 1
    per_head = spatial.numpy().round(DECIMALS)  # (T, L, H, h, w)
    mean = spatial.mean(dim=2).numpy().round(DECIMALS)  # (T, L, h, w)
    maps: list[dict[str, Any]] = []
    for step in range(T):
        if single:
            maps.append(_spatial_map(step, None, None, per_head[step, 0, 0]))
            continue
        for layer in select_indices(layers, n_layers):
            maps += [_spatial_map(step, layer, head, per_head[step, layer, head]) for head in select_indices(
                heads, n_heads)]
            maps.append(_spatial_map(step, layer, None, mean[step, layer]))
    where = "the decoder's attention" if single else "one cross-attention head's (or the mean over heads') attention"
    sums = (
        "each map sums to 1 minus the weight the step puts on the encoder's non-patch tokens (class token)"
        if has_non_patch
        else "each map sums to 1 (softmax over the patches)"
    )
    covers = (
        f"Each map is {where} over the {h} x {w} image patches of the crop box while generating word "
        f"`step` of the caption (output_tokens[step]); values[r][c] is patch row r, column c, and {sums}."
    )
    return _ImageMaps(h, w, covers, maps)


def _class_token_maps(
    cls_maps: ClsAttentionMaps,
    rollout_maps: ClsAttentionMaps,
    layers: Sequence[int] | None,
    heads: Sequence[int] | None,
) -> _ImageMaps:
    """Vision backbones, per selected layer: the class token's map for each selected head, then the mean over
    ALL heads (head null), then the rollout through that layer."""
    patches = cls_maps.patches  # (L, H, h, w)
    n_layers, n_heads, h, w = patches.shape
    check_indices(layers, n_layers, "layer")
    check_indices(heads, n_heads, "head")
    chosen_layers, chosen_heads = select_indices(layers, n_layers), select_indices(heads, n_heads)
    per_head = patches.double().numpy().round(DECIMALS)  # (L, H, h, w)
    per_head_self = cls_maps.cls_self.double().numpy()  # (L, H)
    mean = patches.double().mean(dim=1).numpy().round(DECIMALS)  # (L, h, w)
    mean_self = cls_maps.cls_self.double().mean(dim=1).numpy()  # (L,)
    rollout = rollout_maps.patches.double().numpy().round(DECIMALS)  # (L, h, w)
    rollout_self = rollout_maps.cls_self.double().numpy()  # (L,)
    maps: list[dict[str, Any]] = []
    for layer in chosen_layers:
        maps += [
            _grid_map("cls", layer, head, per_head[layer, head], per_head_self[layer, head]) for head in chosen_heads
        ]
        maps.append(_grid_map("cls", layer, None, mean[layer], mean_self[layer]))
        maps.append(_grid_map("rollout", layer, None, rollout[layer], rollout_self[layer]))
    covers = (
        f"Each map is the class token's softmax attention over the {h} x {w} patches of the crop box "
        "(values[r][c] is patch row r, column c), as raw weights: sum(values) + cls_self = 1, where cls_self "
        "is the weight the class token keeps on itself. Rollout maps are the class-token row of attention "
        "rollout (Abnar & Zuidema 2020) through that layer, with the same sum rule."
    )
    return _ImageMaps(h, w, covers, maps)


def _confidence(output: ImageAttentionOutput) -> dict[str, Any]:
    """A captioner's word probabilities, its confidence (their geometric mean; 0 for an empty caption) and
    whether that is under the calibrated threshold; nulls where the model records no probabilities (vision
    backbones, Hugging Face captioners) or no threshold was calibrated (`unsure` null)."""
    below = output.unsure_below if output.spatial is not None else None
    if output.token_probs is None:
        return {"token_probs": None, "stop_prob": None, "confidence": None, "unsure_below": below, "unsure": None}
    probs = [round(float(p), DECIMALS) for p in output.token_probs]  # (T,) output_tokens order
    if len(probs) != len(output.tokens or ()):
        raise ValueError(f"{len(probs)} token probabilities for {len(output.tokens or ())} tokens")
    confidence = round(caption_confidence(output.caption_probs() or []), DECIMALS)
    return {
        "token_probs": probs,
        "stop_prob": None if output.stop_prob is None else round(output.stop_prob, DECIMALS),
        "confidence": confidence,
        "unsure_below": below,
        "unsure": None if below is None else bool(confidence < below),
    }


def image_response(
    model_id: str,
    output: ImageAttentionOutput,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The body of POST /api/attention/image (see app.schemas.ImageAttentionResponse).

    Vision backbones: class-token and rollout maps, raw weights (with cls_self they add up to 1; see
    _class_token_maps). Captioners: kind "spatial" maps, one set per generated word (see _caption_maps).
    An index that does not exist is an InputError.
    """
    if output.spatial is not None:
        body = _caption_maps(output.spatial, output.non_patch is not None, layers, heads)
    elif output.cls_maps is not None and output.rollout_maps is not None:
        body = _class_token_maps(output.cls_maps, output.rollout_maps, layers, heads)
    else:
        raise ValueError("the image output holds neither spatial nor class-token maps")
    artifacts: list[list[int]] = []
    if output.patch_norms is not None:  # captioners of Hugging Face folders have none
        norms = output.patch_norms.double()  # (h, w)
        artifacts = (norms > ARTIFACT_NORM_RATIO * norms.median()).nonzero().tolist()  # [[r, c], ...]
    record = output.image.record
    up_w, up_h = record.upright_size
    out_w, out_h = record.final_size
    return {
        "model": model_id,
        "caption": output.caption,
        "output_tokens": None if output.tokens is None else list(output.tokens),
        "image_size": [up_h, up_w],
        "input_size": [out_h, out_w],
        "grid": [body.h, body.w],
        "preprocessing": _preprocessing(record),
        "covers": body.covers,
        "artifact_rule": ARTIFACT_RULE if output.patch_norms is not None else None,  # None: nothing to flag
        "artifact_patches": [[int(r), int(c)] for r, c in artifacts],
        "pointing_layer": output.pointing_layer,
        "gates": None if output.gates is None else [round(float(g), DECIMALS) for g in output.gates],  # beta per step
        **_confidence(output),
        "beam": output.beam,
        "known_objects": list(output.known_objects),
        "maps": body.maps,
    }
