"""The eflomal reference aligner (Ostling & Tiedemann 2016) the attention alignments are compared with.

Trained unsupervised on train + test verses (the usual protocol: aligners see the text they align),
on the same whitespace words with surrounding punctuation stripped for its vocabulary only
(positions unchanged). Directions: forward (one English word per Spanish word, like the attention
argmax), reverse, intersection and grow-diag-final-and. Links are cached in reports/.cache/ by the
sha256 of the aligned text and the options. (Not named eflomal.py: that would shadow the package.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from models.evaluate.alignment import Link, grow_diag_final_and
from models.evaluate.verses import CACHE_VERSION
from models.serve.reference_alignment import EFLOMAL_OPTIONS, eflomal_token

logger = logging.getLogger(__name__)


def _read_links(path: Path) -> list[set[Link]]:
    out = []
    for line in path.read_text().splitlines():
        pairs = (p.split("-") for p in line.split())
        out.append({(int(i), int(j)) for i, j in pairs})
    return out


def eflomal_alignments(
    train_pairs: Sequence[tuple[str, str]], test_pairs: Sequence[tuple[str, str]], cache_dir: Path
) -> dict[str, list[set[Link]]]:
    """eflomal trained on train + test (English source, Spanish target); links of the test pairs
    by direction: fwd (one English word per Spanish word), rev, intersection, gdfa. Cached."""
    lines = [(" ".join(map(eflomal_token, en.split())), " ".join(map(eflomal_token, es.split())))
             for en, es in [*train_pairs, *test_pairs]]  # fmt: skip
    key = hashlib.sha256(json.dumps([lines, EFLOMAL_OPTIONS, CACHE_VERSION]).encode()).hexdigest()[:16]
    fwd_path, rev_path = cache_dir / f"eflomal-{key}.fwd", cache_dir / f"eflomal-{key}.rev"
    if not (fwd_path.exists() and rev_path.exists()):
        from eflomal import Aligner

        cache_dir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        Aligner(**EFLOMAL_OPTIONS).align(
            [en + "\n" for en, _ in lines],
            [es + "\n" for _, es in lines],
            links_filename_fwd=str(fwd_path),
            links_filename_rev=str(rev_path),
        )
        logger.info("eflomal: aligned %d pairs in %.0f s", len(lines), time.monotonic() - start)
    n = len(test_pairs)
    fwd, rev = _read_links(fwd_path)[-n:], _read_links(rev_path)[-n:]
    return {
        "forward": fwd,
        "reverse": rev,
        "intersection": [f & r for f, r in zip(fwd, rev, strict=True)],
        "grow-diag-final-and": [grow_diag_final_and(f, r) for f, r in zip(fwd, rev, strict=True)],
    }
