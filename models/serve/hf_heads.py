"""Head ablation for Hugging Face folders: every head's output zeroed before the output projection, as our own
models do, for any architecture whose attention runs through transformers' attention interface.

transformers 5 dropped `head_mask`, but its attention modules call `ALL_ATTENTION_FUNCTIONS[impl]` with
themselves as `module`. We register one implementation, "attnviz_eager": it runs the architecture's own
`eager_attention_forward` (the softmax weights are unchanged and still returned) and multiplies the head axis
of the output, (B, S, H, D), by the mask of that module's (kind, layer). Which module is which comes from its
name in the model (the first number in the path is the layer; encoder_attn / crossattention / EncDecAttention
are cross-attention, modules under a decoder are decoder self-attention). The masks live in a ContextVar, so a
request with heads off never touches a request running beside it. A model whose attention bypasses the
interface (e.g. T5 in transformers 5.x, with its position bias) is detected after the run: every module with a
head off must have been called through it, or the request is refused (InputError), never silently unablated.
Dimensions: L layers, H heads.
"""

import inspect
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch

from models.contract import InputError

IMPLEMENTATION = "attnviz_eager"
CROSS_NAMES = ("encoder_attn", "crossattention", "EncDecAttention", "cross_attn")
_ACTIVE: ContextVar[dict[int, torch.Tensor] | None] = ContextVar("attnviz_head_masks", default=None)
_CALLED: ContextVar[set[int] | None] = ContextVar("attnviz_heads_called", default=None)


def _masked_eager(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The module's own eager attention, then its heads' outputs times their mask (1 on, 0 off)."""
    eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
    if eager is None:
        raise InputError(f"{type(module).__name__} has no eager attention to run with heads switched off.")
    output, weights = eager(module, query, key, value, attention_mask, **kwargs)
    masks, called = _ACTIVE.get(), _CALLED.get()
    if called is not None:
        called.add(id(module))
    mask = masks.get(id(module)) if masks else None
    if mask is not None:
        output = output * mask.to(output.dtype).view(1, 1, -1, 1)  # (B, S, H, D): the head axis
    return output, weights


def install(model: torch.nn.Module) -> None:
    """Run `model` (a transformers PreTrainedModel) through the masking implementation; without masks it is
    exactly eager attention."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(IMPLEMENTATION, _masked_eager)
    AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)  # masks built as for eager (causal, padding)
    model.set_attn_implementation(IMPLEMENTATION)  # type: ignore[operator]


def attention_modules(model: torch.nn.Module, kinds: tuple[str, ...]) -> dict[tuple[str, int], torch.nn.Module]:
    """(kind, layer) -> attention module, for the kinds the adapter serves: ("self",) for an encoder,
    ("decoder_self",) for a decoder, ("encoder_self", "decoder_self", "cross") for an encoder-decoder."""
    found: dict[tuple[str, int], torch.nn.Module] = {}
    for name, module in model.named_modules():
        if not name or not _is_attention(module):
            continue
        numbers = [int(p) for p in name.split(".") if p.isdigit()]
        if not numbers:
            continue
        layer = numbers[0]
        if any(c in name for c in CROSS_NAMES):
            kind = "cross"
        elif "decoder" in name.split(".") or kinds == ("decoder_self",):
            kind = "decoder_self"
        else:
            kind = "self" if "self" in kinds else "encoder_self"
        if kind in kinds:
            found.setdefault((kind, layer), module)  # the outermost module of that name is the attention block
    return found


_CALLS_INTERFACE: dict[type, bool] = {}


def _is_attention(module: torch.nn.Module) -> bool:
    """An attention block whose forward calls the attention interface (the module handed to it)."""
    cls = type(module)
    if cls not in _CALLS_INTERFACE:
        try:
            source = inspect.getsource(cls.forward)
        except (OSError, TypeError):
            source = ""
        _CALLS_INTERFACE[cls] = re.search(r"Attention$", cls.__name__) is not None and (
            "ALL_ATTENTION_FUNCTIONS" in source or "attention_interface" in source
        )
    return _CALLS_INTERFACE[cls]


@contextmanager
def heads_off(modules: Mapping[tuple[str, int], torch.nn.Module],
              masks: Mapping[str, torch.Tensor] | None) -> Iterator[None]:  # fmt: skip
    """While inside: the heads at 0 in masks (kind -> (L, H)) are switched off. InputError when a module with a
    head off was not run through the masking implementation."""
    if not masks:
        yield
        return
    chosen: dict[int, torch.Tensor] = {}
    for kind, mask in masks.items():
        for layer in range(mask.shape[0]):
            if bool((mask[layer] == 0).any()):
                module = modules.get((kind, layer))
                if module is None:
                    raise InputError(f"Head ablation cannot reach {kind} layer {layer} of this model.")
                chosen[id(module)] = mask[layer].float()
    called: set[int] = set()
    token, seen = _ACTIVE.set(chosen), _CALLED.set(called)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
        _CALLED.reset(seen)
    if not set(chosen) <= called:
        raise InputError("This architecture computes attention outside transformers' attention interface, so its "
                         "heads cannot be switched off here.")  # fmt: skip
