"""What both caption decoders share: the special words and the output of generation.

The decoders are models/nets/sat.py (Show, Attend and Tell) and models/nets/caption_transformer.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"


SPECIALS = (PAD, BOS, EOS, UNK)  # ids 0-3


@dataclass(frozen=True)
class CaptionOutput:
    """A generated caption per image, with the attention behind every word.

    tokens: (B, T) generated ids (<eos> included where reached; <pad> after it).
    spatial: (B, T, L, H, P) cross-attention of step t over the patches for each layer and head
        (L = H = 1 for Show-Attend-Tell); every (b, t, l, h) row sums to 1.
    gates: (B, T) Show-Attend-Tell's beta_t; None for the Transformer.
    token_probs: (B, T) the softmax probability the decoder gave each generated id when it chose it (the
        confidence behind every word); None where not recorded.
    """

    tokens: torch.Tensor
    spatial: torch.Tensor
    gates: torch.Tensor | None
    token_probs: torch.Tensor | None = None
