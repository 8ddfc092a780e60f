"""One shard of a corpus analysis: sentences in, per-head statistics and head-to-head distances out.

The same function runs inside a Ray Data worker (app.scale.analyze.ShardWorker) and in the plain
single-process loop the benchmark compares it with. A shard travels as the bytes of one .npz file:
for every attention kind k of the model, `k/ids` (n,) sentence indices, `k/stats` (n, L, H, S) the
STATISTICS of each sentence in their order, `k/js_sum` (K, K) the sum over those sentences of the
per-sentence Jensen-Shannon distances; plus `skipped` (indices the model refused as input).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.scale.head_stats import STATISTICS, head_distances, head_statistics
from models.contract import InputError, TextModel

STAT_NAMES = tuple(STATISTICS)


def analyse_shard(model: TextModel, ids: Sequence[int], texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Run every sentence through the model and reduce each attention stack to per-head numbers."""
    per_kind: dict[str, dict[str, Any]] = {}
    skipped: list[int] = []
    for index, text in zip(ids, texts, strict=True):
        try:
            output = model.attend(text)
        except InputError:
            skipped.append(int(index))
            continue
        for stack in output.stacks:
            weights = stack.weights.detach().float().numpy()  # (L, H, R, C)
            if 0 in weights.shape:
                continue
            stats = head_statistics(stack.kind, weights, stack.row_tokens, stack.col_tokens)
            entry = per_kind.setdefault(stack.kind, {"ids": [], "stats": [], "js_sum": 0.0})
            entry["ids"].append(int(index))
            entry["stats"].append(np.stack([stats[name] for name in STAT_NAMES], axis=-1))  # (L, H, S)
            entry["js_sum"] = entry["js_sum"] + head_distances(weights)
    arrays: dict[str, np.ndarray] = {"skipped": np.asarray(skipped, dtype=np.int64)}
    for kind, entry in per_kind.items():
        arrays[f"{kind}/ids"] = np.asarray(entry["ids"], dtype=np.int64)
        arrays[f"{kind}/stats"] = np.stack(entry["stats"]).astype(np.float32)  # (n, L, H, S)
        arrays[f"{kind}/js_sum"] = np.asarray(entry["js_sum"], dtype=np.float64)  # (K, K)
    return arrays


def to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def from_bytes(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def kinds_of(arrays: dict[str, np.ndarray]) -> list[str]:
    return sorted({name.split("/")[0] for name in arrays if "/" in name})
