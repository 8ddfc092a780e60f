"""Multi-head scaled dot-product attention (Vaswani et al. 2017, "Attention Is All You Need").

softmax(q k^T / sqrt(d_head)) is computed explicitly so the weights can be returned:
a fused kernel that hides them would defeat the purpose of this project.
Dimensions: B batch, T queries, S keys, H heads, D model width, Dh = D / H.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def head_width(d_model: int, n_heads: int) -> int:
    """Dh = D / H, the width of one head; ValueError when the heads do not divide the model width."""
    if d_model % n_heads:
        raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
    return d_model // n_heads


class MultiHeadAttention(nn.Module):
    """forward(query, keys, mask) -> (context, weights), like every attention module here."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_head = head_width(d_model, n_heads)
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def project_keys(self, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """keys (B, S, D) -> per-head keys and values, each (B, H, S, Dh); cacheable across queries."""
        B, S, _ = keys.shape
        k = self.key(keys).view(B, S, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, S, Dh)
        v = self.value(keys).view(B, S, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, S, Dh)
        return k, v

    def attend(
        self,
        query: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, T, D) against projected k, v (B, H, S, Dh) -> context (B, T, D), weights (B, H, T, S).

        head_mask (H,) or (B, H): 0 zeroes that head's output before the output projection (head ablation);
        None runs every head unchanged.
        """
        B, T, D = query.shape
        q = F.linear(query, self.query.weight, self.query.bias)
        q = q.view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, T, Dh)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, S)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(dim=-1)  # (B, H, T, S)
        heads = weights @ v  # (B, H, T, Dh)
        if head_mask is not None:
            heads = heads * head_mask[..., None, None]
        context = heads.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return F.linear(context, self.out.weight, self.out.bias), weights

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, T, D), keys (B, S, D), mask broadcastable to (B, H, T, S), True = may attend.

        Returns context (B, T, D) and weights (B, H, T, S); masked weights are exactly 0. head_mask: see attend.
        """
        return self.attend(query, *self.project_keys(keys), mask, head_mask)
