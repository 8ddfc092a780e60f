"""Model output -> wire maps. The only place where tensors become JSON."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from models.outputs import AttentionStack, InputError, TextAttentionOutput

if TYPE_CHECKING:  # models.dinov2 imports torch, which loads with the first model, not at start-up
    from models.dinov2 import Dinov2ImageAttention

DECIMALS = 6  # rounding error <= 5e-7, far below the 1e-5 parity we promise


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


def stack_maps(stack: AttentionStack, layers: list[int], heads: list[int]) -> list[dict[str, Any]]:
    """One wire map per selected (layer, head) of a stack."""
    rows, cols = stack.weights.shape[2:]
    chosen = stack.weights[layers][:, heads].double().numpy().round(DECIMALS)  # (l, h, R, C)
    row_tokens, col_tokens = list(stack.row_tokens), list(stack.col_tokens)
    return [
        {
            "kind": stack.kind,
            "layer": layer,
            "head": head,
            "shape": [rows, cols],
            "row_tokens": row_tokens,
            "col_tokens": col_tokens,
            "values": chosen[i, j].tolist(),
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
) -> dict[str, Any]:
    """The body of POST /api/attention/text (see app.schemas.TextAttentionResponse).

    A layer or head index applies to every kind that has it (cross-attention may have fewer layers
    than encoder self-attention); an index that no kind has is an InputError.
    """
    stacks = [s for s in output.stacks if kinds is None or s.kind in kinds]
    if kinds is not None and not stacks:
        have = ", ".join(s.kind for s in output.stacks) or "none"
        raise InputError(f"This model has no {'/'.join(kinds)} attention; it has: {have}.")
    check_indices(layers, max((s.weights.shape[0] for s in stacks), default=0), "layer")
    check_indices(heads, max((s.weights.shape[1] for s in stacks), default=0), "head")
    maps: list[dict[str, Any]] = []
    for stack in stacks:
        n_layers, n_heads = stack.weights.shape[:2]
        maps += stack_maps(stack, select_indices(layers, n_layers), select_indices(heads, n_heads))
    return {
        "model": model_id,
        "input_tokens": list(output.input_tokens),
        "output_tokens": None if output.output_tokens is None else list(output.output_tokens),
        "output_text": output.output_text,
        "maps": maps,
    }


# --- Images ---

ARTIFACT_NORM_RATIO = 2.0  # a patch is an "artifact" when its token norm is over this many times the median
ARTIFACT_RULE = (
    f"patch token L2 norm after the last layer > {ARTIFACT_NORM_RATIO:g} x the median patch norm of this image "
    "(Darcet et al. 2024's high-norm tokens)"
)


def _grid_map(kind: str, layer: int, head: int | None, values: Any, cls_self: float) -> dict[str, Any]:
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


def image_response(
    model_id: str,
    output: "Dinov2ImageAttention",
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The body of POST /api/attention/image (see app.schemas.ImageAttentionResponse).

    Per selected layer: the class token's map for each selected head, then the mean over ALL heads
    (head null), then the rollout through that layer. Values are raw weights (with cls_self they
    add up to 1). An index that does not exist is an InputError.
    """
    patches = output.cls_maps.patches  # (L, H, h, w)
    n_layers, n_heads, h, w = patches.shape
    check_indices(layers, n_layers, "layer")
    check_indices(heads, n_heads, "head")
    chosen_layers, chosen_heads = select_indices(layers, n_layers), select_indices(heads, n_heads)
    per_head = patches.double().numpy().round(DECIMALS)  # (L, H, h, w)
    per_head_self = output.cls_maps.cls_self.double().numpy()  # (L, H)
    mean = patches.double().mean(dim=1).numpy().round(DECIMALS)  # (L, h, w)
    mean_self = output.cls_maps.cls_self.double().mean(dim=1).numpy()  # (L,)
    rollout = output.rollout_maps.patches.double().numpy().round(DECIMALS)  # (L, h, w)
    rollout_self = output.rollout_maps.cls_self.double().numpy()  # (L,)
    maps: list[dict[str, Any]] = []
    for layer in chosen_layers:
        maps += [
            _grid_map("cls", layer, head, per_head[layer, head], per_head_self[layer, head]) for head in chosen_heads
        ]
        maps.append(_grid_map("cls", layer, None, mean[layer], mean_self[layer]))
        maps.append(_grid_map("rollout", layer, None, rollout[layer], rollout_self[layer]))

    norms = output.patch_norms.double()  # (h, w)
    artifacts = (norms > ARTIFACT_NORM_RATIO * norms.median()).nonzero().tolist()  # [[r, c], ...]
    record = output.image.record
    up_w, up_h = record.upright_size
    out_w, out_h = record.final_size
    return {
        "model": model_id,
        "caption": None,
        "output_tokens": None,
        "image_size": [up_h, up_w],
        "input_size": [out_h, out_w],
        "grid": [h, w],
        "preprocessing": {
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
        },
        "covers": (
            f"Each map is the class token's softmax attention over the {h} x {w} patches of the crop box "
            "(values[r][c] is patch row r, column c), as raw weights: sum(values) + cls_self = 1, where cls_self "
            "is the weight the class token keeps on itself. Rollout maps are the class-token row of attention "
            "rollout (Abnar & Zuidema 2020) through that layer, with the same sum rule."
        ),
        "artifact_rule": ARTIFACT_RULE,
        "artifact_patches": [[int(r), int(c)] for r, c in artifacts],
        "maps": maps,
    }
