"""Model output -> wire maps. The only place where tensors become JSON."""

from collections.abc import Sequence
from typing import Any

from models.outputs import AttentionStack, InputError, TextAttentionOutput

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
