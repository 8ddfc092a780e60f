"""Count eflomal priors on the English->Spanish training mix, for the reference alignment the service
draws beside a translation's attention (models/serve/reference_alignment.py).

eflomal (Ostling & Tiedemann 2016) aligns the whole training side of the mix in both directions; the
lexical, jump (HMM) and fertility counts of those links become Dirichlet priors, so that a single
sentence pair aligned at request time borrows what the corpus taught. Words are whitespace words with
surrounding punctuation stripped (models.serve.reference_alignment.eflomal_token). Lexical pairs seen
fewer than --min-count times are dropped to keep the file small; the counts are stated in metrics.json.
eflomal seeds its sampler from /dev/urandom, so two runs give slightly different counts.

Run: python -m models.train.eflomal_priors [--data data/en_es_mix/train.jsonl] [--out models/weights/eflomal-en-es]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import tempfile
import time
from collections import Counter
from pathlib import Path

from models.serve.reference_alignment import EFLOMAL_OPTIONS, eflomal_token

log = logging.getLogger(__name__)

DEFAULT_DATA = Path("data/en_es_mix/train.jsonl")
DEFAULT_OUT = Path("models/weights/eflomal-en-es")


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """(English, Spanish) lines of a jsonl with "en" and "es" fields, as eflomal tokens."""
    pairs = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            en = " ".join(eflomal_token(w) for w in record["en"].split())
            es = " ".join(eflomal_token(w) for w in record["es"].split())
            if en and es:
                pairs.append((en, es))
    return pairs


def count_priors(pairs: list[tuple[str, str]]) -> tuple[Counter, ...]:
    """eflomal both directions over the pairs, then eflomal.calculate_priors over its links."""
    from eflomal import Aligner, calculate_priors

    with tempfile.TemporaryDirectory(prefix="attnviz-priors-") as folder:
        fwd, rev = Path(folder) / "fwd", Path(folder) / "rev"
        Aligner(**EFLOMAL_OPTIONS).align(
            [en + "\n" for en, _ in pairs], [es + "\n" for _, es in pairs],
            links_filename_fwd=str(fwd), links_filename_rev=str(rev),
        )  # fmt: skip
        return tuple(
            calculate_priors(
                [en for en, _ in pairs], [es for _, es in pairs],
                fwd.read_text().splitlines(), rev.read_text().splitlines(),
            )
        )  # fmt: skip


def write_priors(path: Path, priors: tuple[Counter, ...], min_count: int) -> dict[str, int]:
    """gzip TSV in eflomal's priors format, sorted, gzip header without a time stamp; returns line counts."""
    from eflomal import write_priors as eflomal_write_priors

    lexical, hmmf, hmmr, ferf, ferr = priors
    kept = Counter({pair: n for pair, n in lexical.items() if n >= min_count})
    text = io.StringIO()
    eflomal_write_priors(text, kept, hmmf, hmmr, ferf, ferr)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as f:
        f.write(text.getvalue().encode("utf-8"))
    return {"lexical_seen": len(lexical), "lexical_kept": len(kept), "jumps": len(hmmf) + len(hmmr),
            "fertility": len(ferf) + len(ferr)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="training side of the mix (jsonl)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--min-count", type=int, default=2, help="drop lexical pairs linked fewer times")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    pairs = read_pairs(args.data)
    start = time.monotonic()  # eflomal runs in a child process: wall time
    priors = count_priors(pairs)
    counts = write_priors(args.out / "priors.tsv.gz", priors, args.min_count)
    metrics = {
        "data": str(args.data),
        "pairs": len(pairs),
        "options": EFLOMAL_OPTIONS,
        "min_count": args.min_count,
        **counts,
        "wall_seconds": round(time.monotonic() - start, 1),
        "bytes": (args.out / "priors.tsv.gz").stat().st_size,
        "command": f"python -m models.train.eflomal_priors --data {args.data} --min-count {args.min_count}",
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    log.info("priors of %d pairs -> %s: %s", len(pairs), args.out, counts)


if __name__ == "__main__":
    main()
