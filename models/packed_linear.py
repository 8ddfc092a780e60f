"""Float32 linear layers whose weights are prepared once for oneDNN's blocked GEMM.

Marian's encoder multiplies a few rows (one per source token) by each weight matrix. There,
oneDNN on a weight reordered once is about 1.4x faster than MKL's addmm (which repacks the
weight on every call); results differ only in summation order (~1e-5), and the Marian parity
sentences stay identical (benchmarks/marian_parity.py). Layers that read the same input (query,
key, value) are fused into one product. Where oneDNN is missing, plain F.linear on the same weights.
"""

import torch
import torch.nn.functional as F
from torch import nn

ROWS_HINT = 64  # typical rows per product (source tokens); only tunes oneDNN's blocking


class PackedLinear:
    """y = x W^T + b for the rows of several nn.Linear layers stacked: outputs side by side."""

    def __init__(self, *layers: nn.Linear) -> None:
        self.weight = torch.cat([layer.weight.detach() for layer in layers]).contiguous()
        self.bias = torch.cat([_bias(layer) for layer in layers]).contiguous()
        self.packed: torch.Tensor | None = None
        if torch.backends.mkldnn.is_available():
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight, ROWS_HINT)
            except (AttributeError, RuntimeError):  # a torch build without the op: stay on F.linear
                self.packed = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed is None:
            return F.linear(x, self.weight, self.bias)
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")


def _bias(layer: nn.Linear) -> torch.Tensor:
    return layer.bias.detach() if layer.bias is not None else torch.zeros(layer.out_features)
