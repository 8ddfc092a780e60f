"""Saved results ("permanent links"): an embedded SQLite database of requests, their results and the weights digest.

One row per saved result: an unguessable id (128 random bits, URL-safe), the request as gzip-compressed JSON,
the answer with its float16/8-bit maps as compressed byte streams (pack_result), the model id and the sha256 of its
weights when saved, the upload (re-encoded, metadata stripped) for image results, and the sha256 of a delete
token handed out once at save time. WAL journal with synchronous=FULL: a save is acknowledged only after
its transaction is on disk, so a process killed at any moment keeps every acknowledged save. The schema
version is PRAGMA user_version; `migrate` brings an older file up to date when the store opens.
Limits: a count and a total size, checked inside the saving transaction (ResultLimitError, a 4xx).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
import sqlite3
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MIGRATIONS = {  # version -> statements that bring version - 1 to it
    1: (
        """CREATE TABLE results (
            id TEXT PRIMARY KEY,
            created REAL NOT NULL,
            kind TEXT NOT NULL,
            model TEXT NOT NULL,
            weights TEXT NOT NULL,
            request BLOB NOT NULL,
            result BLOB NOT NULL,
            image BLOB,
            token_sha256 TEXT NOT NULL,
            bytes INTEGER NOT NULL
        )""",
    ),
}


class ResultLimitError(Exception):
    """A limit of the store would be passed; the message says which. too_large: this one result is over the
    store's whole size (413); else the store is full (409) until results are deleted."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class Saved:
    id: str
    delete_token: str
    bytes: int


@dataclass(frozen=True)
class Stored:
    id: str
    created: float
    kind: str
    model: str
    weights: str
    request: dict[str, Any]
    result: dict[str, Any]
    image: bytes | None


def _pack(value: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(), compresslevel=6)


def _unpack(blob: bytes) -> dict[str, Any]:
    if blob.startswith(MAPS_MAGIC):
        return _unpack_maps(blob)
    value = json.loads(gzip.decompress(blob))
    if not isinstance(value, dict):
        raise ValueError("stored value is not an object")
    return value


# An answer's encoded maps ("data": base64 of float16 or 8-bit values) are stored as bytes, not base64 text:
# MAPS_MAGIC, the length of the compressed JSON (the answer with each map's data replaced by its place in a
# stream), the JSON, then the float16 stream byte-shuffled (high bytes, then low bytes) and the 8-bit stream,
# each zlib-compressed. Byte for byte the same answer comes back; 128 MiniLM tokens x 72 maps: 1.8 MB, not 2.3.
MAPS_MAGIC = b"AVR1"


def _shuffle(data: bytes) -> bytes:
    import numpy as np

    pairs = np.frombuffer(data, np.uint8).reshape(-1, 2)
    return pairs[:, 1].tobytes() + pairs[:, 0].tobytes()


def _unshuffle(data: bytes) -> bytes:
    import numpy as np

    half = len(data) // 2
    high, low = np.frombuffer(data[:half], np.uint8), np.frombuffer(data[half:], np.uint8)
    return np.stack([low, high], axis=1).tobytes()


def pack_result(result: dict[str, Any]) -> bytes:
    """An API answer -> stored bytes (maps as raw compressed streams when encoded, else gzip JSON)."""
    import base64

    maps = result.get("maps")
    if not isinstance(maps, list) or not any(isinstance(m, dict) and "data" in m for m in maps):
        return _pack(result)
    streams: dict[str, list[bytes]] = {"float16": [], "uint8": []}
    sizes = {"float16": 0, "uint8": 0}
    placed = []
    for m in maps:
        if isinstance(m, dict) and isinstance(m.get("data"), str) and m.get("dtype") in streams:
            raw = base64.b64decode(m["data"])
            dtype = m["dtype"]
            placed.append({**m, "data": None, "_place": [dtype, sizes[dtype], len(raw)]})
            streams[dtype].append(raw)
            sizes[dtype] += len(raw)
        else:
            placed.append(m)
    header = zlib.compress(json.dumps({**result, "maps": placed}, separators=(",", ":")).encode(), 6)
    f16 = zlib.compress(_shuffle(b"".join(streams["float16"])), 6)
    u8 = zlib.compress(b"".join(streams["uint8"]), 6)
    return MAPS_MAGIC + struct.pack("<III", len(header), len(f16), len(u8)) + header + f16 + u8


def _unpack_maps(blob: bytes) -> dict[str, Any]:
    import base64

    start = len(MAPS_MAGIC) + 12
    n_header, n_f16, n_u8 = struct.unpack("<III", blob[len(MAPS_MAGIC) : start])
    header = json.loads(zlib.decompress(blob[start : start + n_header]))
    f16 = _unshuffle(zlib.decompress(blob[start + n_header : start + n_header + n_f16]))
    u8 = zlib.decompress(blob[start + n_header + n_f16 : start + n_header + n_f16 + n_u8])
    stream = {"float16": f16, "uint8": u8}
    for m in header["maps"]:
        place = m.pop("_place", None)
        if place is not None:
            dtype, offset, length = place
            m["data"] = base64.b64encode(stream[dtype][offset : offset + length]).decode("ascii")
    return dict(header)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ResultStore:
    """Thread-safe store over one SQLite file; opened (and migrated) on first use."""

    def __init__(self, path: Path, max_results: int, max_bytes: int) -> None:
        self.path, self.max_results, self.max_bytes = path, max_results, max_bytes
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            migrate(db)
            self._db = db
        return self._db

    def save(self, kind: str, model: str, weights: str, request: dict[str, Any], result: dict[str, Any],
             image: bytes | None = None) -> Saved:  # fmt: skip
        """Store one result; raises ResultLimitError when the count or total size would pass its limit."""
        request_blob, result_blob = _pack(request), pack_result(result)
        size = len(request_blob) + len(result_blob) + len(image or b"")
        if size > self.max_bytes:
            raise ResultLimitError(f"This result takes {size} bytes; the store holds at most {self.max_bytes}.", True)
        rid, token = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                count, total = db.execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM results").fetchone()
                if count >= self.max_results:
                    raise ResultLimitError(f"The store is full ({count} saved results); delete some first.")
                if total + size > self.max_bytes:
                    raise ResultLimitError(
                        f"The store is full ({total} of {self.max_bytes} bytes used; this result needs {size})."
                    )
                db.execute(
                    "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (rid, time.time(), kind, model, weights, request_blob, result_blob, image, _token_hash(token),
                     size),
                )  # fmt: skip
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return Saved(rid, token, size)

    def get(self, rid: str) -> Stored | None:
        with self._lock:
            row = (
                self._conn()
                .execute(
                    "SELECT id, created, kind, model, weights, request, result, image FROM results WHERE id = ?", (rid,)
                )
                .fetchone()
            )
        if row is None:
            return None
        return Stored(row[0], row[1], row[2], row[3], row[4], _unpack(row[5]), _unpack(row[6]), row[7])

    def kind_of(self, rid: str) -> str | None:
        """The kind (text or image) of a saved result, or None when there is none with this id."""
        with self._lock:
            row = self._conn().execute("SELECT kind FROM results WHERE id = ?", (rid,)).fetchone()
        return None if row is None else str(row[0])

    def delete(self, rid: str, token: str) -> bool | None:
        """True when deleted, False when the token is wrong, None when there is no such result."""
        with self._lock:
            db = self._conn()
            row = db.execute("SELECT token_sha256 FROM results WHERE id = ?", (rid,)).fetchone()
            if row is None:
                return None
            if not secrets.compare_digest(row[0], _token_hash(token)):
                return False
            db.execute("DELETE FROM results WHERE id = ?", (rid,))
            return True

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def migrate(db: sqlite3.Connection) -> int:
    """Apply every migration above the file's user_version, each in its own transaction; returns the version."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"the results database is version {version}; this code knows up to {SCHEMA_VERSION}")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        for statement in MIGRATIONS[target]:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {target}")
        db.execute("COMMIT")
    return SCHEMA_VERSION


_DIGESTS: dict[tuple[tuple[str, int, int], ...], str] = {}  # (path, mtime_ns, size) of every file -> digest


def weights_digest(files: list[Path], fallback: str) -> str:
    """sha256 over a model's weight files (our own models), or of `fallback` (e.g. the package it comes from).
    Kept per (path, mtime, size) of the files, so a file is read again only when it changed."""
    stats = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.is_file())
    key = stats or ((fallback, 0, 0),)
    if key not in _DIGESTS:
        _DIGESTS[key] = _digest(files, fallback)
    return _DIGESTS[key]


def _digest(files: list[Path], fallback: str) -> str:
    digest = hashlib.sha256()
    found = False
    for path in files:
        if path.is_file():
            found = True
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    if not found:
        digest.update(fallback.encode())
    return digest.hexdigest()
