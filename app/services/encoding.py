"""Wire encodings of one attention map's values.

json: nested lists rounded to 6 decimals (exact to 5e-7).
f16: base64 of little-endian float16, row-major (relative error <= 2^-11, ~5e-4).
u8: base64 of uint8 q, value = offset + scale * q, scale = max / 255 (error <= scale / 2); for thumbnails.
"""

import base64
from typing import Any, Literal

import numpy as np

Encoding = Literal["json", "f16", "u8"]
DECIMALS = 6  # rounding error <= 5e-7, far below the 1e-5 parity we promise


def encode_values(values: np.ndarray, encoding: Encoding) -> dict[str, Any]:
    """values: (rows, cols) float array -> the fields that carry it in the chosen encoding."""
    if encoding == "json":
        return {"values": np.asarray(values, dtype=np.float64).round(DECIMALS).tolist()}
    if encoding == "f16":
        data = np.ascontiguousarray(values, dtype="<f2").tobytes()
        return {"values": None, "data": base64.b64encode(data).decode("ascii"), "dtype": "float16"}
    if encoding == "u8":
        top = float(np.max(values)) if values.size else 0.0
        scale = top / 255 if top > 0 else 1.0
        q = np.clip(np.rint(np.asarray(values, dtype=np.float64) / scale), 0, 255).astype(np.uint8)
        return {
            "values": None,
            "data": base64.b64encode(q.tobytes()).decode("ascii"),
            "dtype": "uint8",
            "scale": scale,
            "offset": 0.0,
        }
    raise ValueError(f"unknown encoding {encoding!r}")


def decode_values(fields: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
    """Inverse of encode_values (tests, benchmarks and Python clients)."""
    if fields.get("values") is not None:
        return np.asarray(fields["values"], dtype=np.float64)
    raw = base64.b64decode(fields["data"])
    if fields["dtype"] == "float16":
        return np.frombuffer(raw, dtype="<f2").astype(np.float64).reshape(shape)
    q = np.frombuffer(raw, dtype=np.uint8).astype(np.float64).reshape(shape)
    return float(fields["offset"]) + float(fields["scale"]) * q
