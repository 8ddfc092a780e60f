"""Attention readouts to set beside attribution rows: one (R, S) matrix in the attributions' layout
(rows = outputs, columns = inputs), each row a distribution over the inputs.

- head: one layer's one head; mean: one layer's mean over heads;
- rollout (Abnar & Zuidema 2020): encoders roll attention out through every layer (heads averaged, plus
  the identity for the residual path); translation models follow the last cross-attention layer's mean
  over heads by the encoder's rollout, so a row spreads over source tokens as the encoder mixed them.
Encoders without generated tokens have one output row (a sentence-level target): a readout's row is the
mean over the queries of the chosen map (the attention each token receives, averaged like mean pooling).
Dimensions: L layers, H heads, T generated tokens, S input tokens.
"""

from dataclasses import dataclass
from typing import Literal

import torch

from models.contract import AttentionStack, InputError, TextAttentionOutput
from models.readouts import attention_rollout

ReadoutKind = Literal["head", "mean", "rollout"]


@dataclass(frozen=True)
class Readout:
    kind: ReadoutKind
    layer: int | None = None  # needed by head and mean
    head: int | None = None  # needed by head


def _stack(output: TextAttentionOutput, *kinds: str) -> AttentionStack:
    for stack in output.stacks:
        if stack.kind in kinds:
            return stack
    raise InputError(f"This model has no {' or '.join(kinds)} attention to compare with.")


def _pick(weights: torch.Tensor, readout: Readout) -> torch.Tensor:
    """weights (L, H, R, C) -> (R, C) for a head or mean readout."""
    L, H = weights.shape[:2]
    if readout.layer is None or not 0 <= readout.layer < L:
        raise InputError(f"Readout layer {readout.layer} does not exist; choose 0-{L - 1}.")
    if readout.kind == "mean":
        return weights[readout.layer].mean(dim=0)
    if readout.head is None or not 0 <= readout.head < H:
        raise InputError(f"Readout head {readout.head} does not exist; choose 0-{H - 1}.")
    return weights[readout.layer, readout.head]


def translation_rows(output: TextAttentionOutput, readout: Readout) -> torch.Tensor:
    """(T, S) cross-attention readout of an encoder-decoder."""
    cross = _stack(output, "cross").weights.double()  # (L, H, T, S)
    if readout.kind != "rollout":
        return _pick(cross, readout)
    if not any(stack.kind == "encoder_self" for stack in output.stacks):
        raise InputError("Rollout needs an encoder self-attention, which this model lacks; choose a head or a mean.")
    encoder = attention_rollout(_stack(output, "encoder_self").weights.double())[-1]  # (S, S)
    return cross[-1].mean(dim=0) @ encoder  # (T, S)


def encoder_rows(output: TextAttentionOutput, readout: Readout) -> torch.Tensor:
    """(1, S) readout of a self-attention encoder: the chosen map's mean over its query rows."""
    weights = _stack(output, "self", "encoder_self").weights.double()  # (L, H, S, S)
    chosen = attention_rollout(weights)[-1] if readout.kind == "rollout" else _pick(weights, readout)
    return chosen.mean(dim=0, keepdim=True)


def caption_rows(spatial: torch.Tensor, readout: Readout) -> torch.Tensor:
    """(T, P) readout of a captioner: spatial (T, L, H, h, w) cross-attention of each word over the patches."""
    if readout.kind == "rollout":
        raise InputError("Rollout is not defined for a caption decoder's cross-attention; choose a head or a mean.")
    T, L, H, h, w = spatial.shape
    return _pick(spatial.double().reshape(T, L, H, h * w).permute(1, 2, 0, 3), readout)  # (L, H, T, P) -> (T, P)
