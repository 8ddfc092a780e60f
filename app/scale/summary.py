"""Merge the shards of a corpus analysis into DIR/heads.parquet (every sentence x head) and DIR/summary.json.

summary.json is what /api/heads serves and the /heads page draws, kept small: for each attention kind,
the corpus mean of every statistic per (layer, head), the TOP sentences where each head shows each
statistic most (with their text), the mean head-to-head Jensen-Shannon distance, and a clustering of
the heads (average linkage on that distance, scipy).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from app.scale.corpus import Corpus
from app.scale.head_stats import AER_DESCRIPTION, STATISTICS
from app.scale.shards import STAT_NAMES, kinds_of

TOP = 5  # sentences kept per head and statistic
SUMMARY_VERSION = 1


def _rounded(values: np.ndarray, digits: int = 4) -> Any:
    """Nested lists with NaN as None (JSON has no NaN)."""
    return (
        [_rounded(v, digits) for v in values]
        if values.ndim
        else (None if math.isnan(values) else round(float(values), digits))
    )


def cluster_heads(distance: np.ndarray, clusters: int) -> list[int]:
    """Cluster label (1..clusters) of each head: average-linkage hierarchical clustering of the distances."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    k = distance.shape[0]
    if k < 2:
        return [1] * k
    symmetric = (distance + distance.T) / 2
    np.fill_diagonal(symmetric, 0.0)
    tree = linkage(squareform(symmetric, checks=False), method="average")
    return [int(label) for label in fcluster(tree, t=min(clusters, k), criterion="maxclust")]


def top_sentences(ids: np.ndarray, stats: np.ndarray) -> list[list[list[list[int]]]]:
    """[layer][head][statistic] -> up to TOP sentence indices with the highest value (NaN never chosen)."""
    n, layers, heads, names = stats.shape
    out = []
    for layer in range(layers):
        row = []
        for head in range(heads):
            per_stat = []
            for s in range(names):
                values = stats[:, layer, head, s]
                order = [
                    i for i in np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable") if not np.isnan(values[i])
                ]
                per_stat.append([int(ids[i]) for i in order[:TOP]])
            row.append(per_stat)
        out.append(row)
    return out


def merge_kind(shards: list[dict[str, np.ndarray]], kind: str, clusters: int) -> dict[str, Any]:
    parts = [s for s in shards if f"{kind}/ids" in s]
    ids = np.concatenate([s[f"{kind}/ids"] for s in parts])
    stats = np.concatenate([s[f"{kind}/stats"] for s in parts])  # (n, L, H, S)
    distance = sum(s[f"{kind}/js_sum"] for s in parts) / len(ids)  # (K, K)
    _, layers, heads, _ = stats.shape
    with warnings.catch_warnings():  # a statistic that never applies to this kind is all NaN: mean NaN
        warnings.simplefilter("ignore", category=RuntimeWarning)
        means = np.nanmean(stats, axis=0)  # (L, H, S)
    return {
        "kind": kind,
        "layers": int(layers),
        "heads": int(heads),
        "sentences": int(len(ids)),
        "means": {name: _rounded(means[..., s]) for s, name in enumerate(STAT_NAMES)},
        "top": top_sentences(ids, stats),
        "js_distance": _rounded(np.asarray(distance), 3),
        "clusters": cluster_heads(np.asarray(distance), clusters),
        "_rows": (ids, stats),  # for the Parquet table; removed before the JSON is written
    }


def write_parquet(path: Path, kinds: list[dict[str, Any]]) -> None:
    """One row per (sentence, kind, layer, head) with every statistic as a float32 column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list[np.ndarray]] = {"sentence": [], "kind": [], "layer": [], "head": []}
    columns.update({name: [] for name in STAT_NAMES})
    for entry in kinds:
        ids, stats = entry["_rows"]
        n, layers, heads, _ = stats.shape
        columns["sentence"].append(np.repeat(ids, layers * heads).astype(np.int32))
        columns["kind"].append(np.full(n * layers * heads, entry["kind"], dtype=object))
        columns["layer"].append(np.tile(np.repeat(np.arange(layers), heads), n).astype(np.int16))
        columns["head"].append(np.tile(np.arange(heads), n * layers).astype(np.int16))
        for s, name in enumerate(STAT_NAMES):
            columns[name].append(stats[..., s].reshape(-1))
    table = pa.table({name: np.concatenate(parts) for name, parts in columns.items()})
    pq.write_table(table, path, compression="zstd")


def write_outputs(model_id: str, corpus: Corpus, shards: list[dict[str, np.ndarray]], out: Path,
                  clusters: int = 6, cross_aer: list[list[float]] | None = None) -> Path:  # fmt: skip
    """heads.parquet + summary.json from every shard; returns the summary's path. cross_aer: [layer][head] AER
    of the cross-attention heads against reference links (models.evaluate.reference_aer), a corpus figure added to
    the cross kind's means as statistic "aer" (no per-sentence rows, so no top sentences for it)."""
    kinds = [merge_kind(shards, kind, clusters) for kind in sorted({k for s in shards for k in kinds_of(s)})]
    statistics = dict(STATISTICS)
    if cross_aer is not None:
        statistics["aer"] = AER_DESCRIPTION
        for entry in kinds:
            if entry["kind"] == "cross":
                entry["means"]["aer"] = cross_aer
    skipped = sorted(int(i) for s in shards for i in s["skipped"])
    write_parquet(out / "heads.parquet", kinds)
    used = sorted({i for entry in kinds for layer in entry["top"] for head in layer for ids in head for i in ids})
    for entry in kinds:
        del entry["_rows"]
    summary = {
        "version": SUMMARY_VERSION,
        "model": model_id,
        "corpus": corpus.name,
        "corpus_description": corpus.description,
        "corpus_sha256": corpus.digest(),
        "sentences": len(corpus.sentences),
        "skipped": skipped,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "statistics": statistics,
        "kinds": kinds,
        "texts": {str(i): corpus.sentences[i] for i in used},
    }
    path = out / "summary.json"
    path.write_text(json.dumps(summary, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    return path
