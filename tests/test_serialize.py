"""Tensor -> wire map invariants, on random attention of known shape."""

import pytest
import torch

from app.schemas import TextAttentionResponse
from app.services.serialize import select_indices, text_response
from models.outputs import AttentionStack, InputError, TextAttentionOutput


def random_output(layers: int = 2, heads: int = 3, rows: int = 4, cols: int = 5) -> TextAttentionOutput:
    weights = torch.randn(layers, heads, rows, cols, generator=torch.Generator().manual_seed(0)).softmax(-1)
    rows_t = tuple(f"q{i}" for i in range(rows))
    cols_t = tuple(f"k{j}" for j in range(cols))
    return TextAttentionOutput(
        input_tokens=cols_t,
        output_tokens=rows_t,
        output_text="q0 q1 q2 q3",
        stacks=(AttentionStack("cross", weights, rows_t, cols_t),),
    )


def test_every_map_matches_its_tokens_and_rows_sum_to_one() -> None:
    body = text_response("m", random_output())
    parsed = TextAttentionResponse.model_validate(body)
    assert len(parsed.maps) == 6
    for m in parsed.maps:
        assert m.shape == [len(m.row_tokens), len(m.col_tokens)] == [4, 5]
        assert len(m.values) == 4
        for row in m.values:
            assert len(row) == 5
            assert sum(row) == pytest.approx(1, abs=1e-5)


def test_values_are_the_tensor_rounded() -> None:
    output = random_output()
    body = text_response("m", output, layers=[1], heads=[2])
    expected = output.stacks[0].weights[1, 2]
    assert torch.allclose(torch.tensor(body["maps"][0]["values"], dtype=torch.float64), expected.double(), atol=5e-7)


def test_stack_rejects_mismatched_tokens() -> None:
    with pytest.raises(ValueError, match="3x3 but there are 2 row"):
        AttentionStack("self", torch.ones(1, 1, 3, 3) / 3, ("a", "b"), ("a", "b", "c"))


def test_select_indices() -> None:
    assert select_indices(None, 3, "layer") == [0, 1, 2]
    assert select_indices([2, 0, 2], 3, "layer") == [0, 2]
    with pytest.raises(InputError, match="layer 3 does not exist; this model has layers 0-2"):
        select_indices([3], 3, "layer")
