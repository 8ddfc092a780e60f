"""Maps as files: NumPy .npz and CSV, from an API answer (the same numbers as its JSON).

npz: one float32 array per map, named kind/L<layer>/H<head> (H<head> "mean" for head means, /S<step> for a
caption step), with its token lists as <name>:rows and <name>:cols, plus input_tokens and output_tokens.
CSV: one block per map: a header row (kind, layer, head, query, then the key tokens), then one row per query
token; cells that a spreadsheet would read as a formula are prefixed with a quote.
attnviz.client writes the same files from a decoded answer.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MapArray:
    kind: str
    layer: int | None
    head: int | str | None
    step: int | None
    rows: list[str]
    cols: list[str]
    values: np.ndarray  # float32 (rows, cols)

    @property
    def row_tokens(self) -> list[str]:
        return self.rows

    @property
    def col_tokens(self) -> list[str]:
        return self.cols

    @property
    def name(self) -> str:
        """kind/L<layer>/H<head> (head 'mean' for head means, /S<step> for a caption step)."""
        head = "mean" if self.head is None else str(self.head)
        return f"{self.kind}/L{self.layer}/H{head}" + ("" if self.step is None else f"/S{self.step}")


def decode(raw: dict[str, Any]) -> MapArray:
    """One map of an answer (values, or base64 float16 / 8-bit in `data`) as float32."""
    rows, cols = raw["shape"]
    if raw.get("values") is not None:
        values = np.asarray(raw["values"], dtype=np.float32).reshape(rows, cols)
    elif raw.get("dtype") == "float16":
        values = np.frombuffer(base64.b64decode(raw["data"]), dtype="<f2").astype(np.float32).reshape(rows, cols)
    elif raw.get("dtype") == "uint8":
        data = np.frombuffer(base64.b64decode(raw["data"]), dtype=np.uint8).astype(np.float32)
        values = (raw["offset"] + raw["scale"] * data).astype(np.float32).reshape(rows, cols)
    else:
        raise ValueError(f"map {raw.get('kind')} holds no values (dtype {raw.get('dtype')!r})")
    # Image maps are patch grids without tokens: their rows and columns are named "row r" and "col c".
    row_names = list(raw.get("row_tokens") or [f"row {r}" for r in range(rows)])
    col_names = list(raw.get("col_tokens") or [f"col {c}" for c in range(cols)])
    return MapArray(raw["kind"], raw.get("layer"), raw.get("head"), raw.get("step"), row_names, col_names, values)


def npz_bytes(
    maps: Sequence[MapArray], input_tokens: Sequence[str] | None, output_tokens: Sequence[str] | None
) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    for m in maps:
        arrays[m.name] = m.values
        arrays[f"{m.name}:rows"] = np.asarray(m.rows, dtype=str)
        arrays[f"{m.name}:cols"] = np.asarray(m.cols, dtype=str)
    arrays["input_tokens"] = np.asarray(list(input_tokens or []), dtype=str)
    arrays["output_tokens"] = np.asarray(list(output_tokens or []), dtype=str)
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    return out.getvalue()


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_text(maps: Sequence[MapArray]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for m in maps:
        writer.writerow(["kind", "layer", "head", "query", *[_cell(t) for t in m.cols]])
        for token, row in zip(m.rows, m.values, strict=True):
            writer.writerow([m.kind, m.layer, "mean" if m.head is None else m.head, _cell(token),
                             *[f"{v:.6g}" for v in row]])  # fmt: skip
    return out.getvalue()


def answer_file(answer: dict[str, Any], fmt: str) -> tuple[bytes, str]:
    """(body, media type) of an API answer as fmt ('npz' or 'csv')."""
    maps = [decode(m) for m in answer.get("maps", [])]
    if fmt == "npz":
        return npz_bytes(maps, answer.get("input_tokens"), answer.get("output_tokens")), "application/x-npz"
    if fmt == "csv":
        return csv_text(maps).encode(), "text/csv; charset=utf-8"
    raise ValueError(f"unknown export format {fmt!r}")
