"""What every model hands back to the service: attention tensors with their token labels.

Dimensions: L layers, H heads, R rows (queries), C columns (keys).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the service imports this file at start-up; torch is loaded with the first model
    import torch

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
    weights: "torch.Tensor"
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
