"""Tensor -> wire map invariants, on random attention of known shape."""

import pytest
import torch

from app.schemas import TextAttentionResponse
from app.services.serialize import check_indices, select_indices, text_response
from models.contract import AttentionStack, InputError, TextAttentionOutput


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


def test_select_and_check_indices() -> None:
    assert select_indices(None, 3) == [0, 1, 2]
    assert select_indices([2, 0, 2, 7], 3) == [0, 2]
    check_indices([0, 2], 3, "layer")
    with pytest.raises(InputError, match="layer 3 does not exist; this model has layers 0-2"):
        check_indices([3], 3, "layer")


def test_layers_apply_to_every_kind_that_has_them() -> None:
    weights = torch.full((6, 2, 3, 3), 1 / 3)
    cross = torch.full((2, 2, 1, 3), 1 / 3)
    toks = ("a", "b", "c")
    output = TextAttentionOutput(
        input_tokens=toks,
        output_tokens=("x",),
        output_text="x",
        stacks=(AttentionStack("encoder_self", weights, toks, toks), AttentionStack("cross", cross, ("x",), toks)),
    )
    body = text_response("m", output, layers=[1, 4])
    assert [(m["kind"], m["layer"]) for m in body["maps"]] == [
        ("encoder_self", 1), ("encoder_self", 1), ("encoder_self", 4), ("encoder_self", 4), ("cross", 1), ("cross", 1)
    ]
    assert {m["kind"] for m in text_response("m", output, kinds=["cross"])["maps"]} == {"cross"}
    with pytest.raises(InputError, match="layer 6 does not exist"):
        text_response("m", output, layers=[6])
    with pytest.raises(InputError, match="no decoder_self attention"):
        text_response("m", output, kinds=["decoder_self"])
