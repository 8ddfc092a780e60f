"""The EN-ES verse splits the translation evaluation reads (models/data/bible_en_es.py builds them),
and the hashes its caches in reports/.cache/ are keyed by."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from models.evaluate.alignment import Link

DATA = Path("data/bible_en_es")
CACHE_VERSION = "1"  # bump when what a cached model run holds changes


@dataclass(frozen=True)
class TestVerse:
    ref: str
    en: str
    es: str
    links: frozenset[Link]  # Strong's-number reference links (English word i, Spanish word j)


def load_verses(data: Path, split: str = "test") -> list[TestVerse]:
    """{split}.jsonl joined with {split}_strongs.jsonl by reference; their words must agree."""
    records = [json.loads(line) for line in (data / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
    strongs = {}
    for line in (data / f"{split}_strongs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        strongs[row["ref"]] = row
    verses = []
    for r in records:
        row = strongs[r["ref"]]
        if row["en_words"] != r["en"].split() or row["es_words"] != r["es"].split():
            raise ValueError(f"{r['ref']}: {split}_strongs.jsonl words differ from {split}.jsonl; run `make data`")
        verses.append(TestVerse(r["ref"], r["en"], r["es"], frozenset((int(i), int(j)) for i, j in row["links"])))
    return verses


def split_sizes(data: Path) -> dict[str, int]:
    return {
        split: sum(1 for _ in open(data / f"{split}.jsonl", encoding="utf-8")) for split in ("train", "dev", "test")
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_key(folder: Path, data_sha: str) -> str:
    """Cache key of one model folder's results on data hashed to data_sha: changes with either."""
    key = hashlib.sha256(f"{sha256_file(folder / 'model.safetensors')}:{data_sha}:{CACHE_VERSION}".encode())
    return key.hexdigest()[:16]
