"""How concentrated a model's attention is on one source word: the degeneracy figure of the EN->ES models.

For one sentence, each target word links to its argmax source word; the sentence's share is the fraction
of its target words whose argmax is the sentence's most-chosen source word. The model's figure is the mean
share over sentences with at least MIN_SOURCE_WORDS source words (with one source word every row must land
on it). A healthy alignment spreads over the sentence; a degenerate one (every row on "we", or on the
last word) scores near 1. Issue 12 asks for < 0.5 on the everyday test set for every variant but location.

The same share for a reference alignment (eflomal's links, one source word per target word) is printed
beside it as a yardstick: what a real word alignment of these sentences scores.

Run on the dev split to choose between training set-ups (the test sets are never used for choices):
  python -m models.evaluate.degeneracy --weights-dir artifacts/mix-weights --models rnn-general-en-es ...
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from models.evaluate.alignment import Link
from models.evaluate.runs import cached_run
from models.evaluate.verses import TestVerse, sha256_file

logger = logging.getLogger(__name__)

MIN_SOURCE_WORDS = 2


def sentence_share(argmax_sources: Sequence[int]) -> float:
    """Share of the target words whose argmax source word is the sentence's most-chosen one."""
    if not argmax_sources:
        return float("nan")
    return Counter(argmax_sources).most_common(1)[0][1] / len(argmax_sources)


def attention_degeneracy(attention: Iterable[np.ndarray], min_source_words: int = MIN_SOURCE_WORDS) -> float:
    """Mean sentence share over word-level maps (target words, source words) with enough source words."""
    shares = [
        sentence_share([int(i) for i in a.argmax(axis=1)])
        for a in attention
        if a.ndim == 2 and a.shape[0] > 0 and a.shape[1] >= min_source_words
    ]
    return float(np.mean(shares)) if shares else float("nan")


def links_degeneracy(
    links: Iterable[set[Link]], source_lengths: Iterable[int], min_source_words: int = MIN_SOURCE_WORDS
) -> float:
    """The same figure for a reference alignment's (English i, Spanish j) links, over linked target words."""
    shares = []
    for sentence, n_source in zip(links, source_lengths, strict=True):
        if n_source < min_source_words or not sentence:
            continue
        shares.append(sentence_share([i for i, _ in sentence]))
    return float(np.mean(shares)) if shares else float("nan")


def load_pairs(path: Path, sources: set[str] | None = None) -> list[TestVerse]:
    """JSONL pairs (en, es, source, doc) as TestVerse without links; only the given sources if any."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [TestVerse(r["doc"], r["en"], r["es"], frozenset()) for r in rows if not sources or r["source"] in sources]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=Path, default=Path("data/en_es_mix/dev.jsonl"), help="JSONL pairs (dev)")
    parser.add_argument("--sources", nargs="*", help="only pairs of these sources (default: all)")
    parser.add_argument("--weights-dir", type=Path, default=Path("models/weights"))
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path("reports/.cache"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    verses = load_pairs(args.pairs, set(args.sources) if args.sources else None)
    key = sha256_file(args.pairs) + ":" + ",".join(sorted(args.sources or []))
    for model_id in args.models:
        run = cached_run(model_id, args.weights_dir / model_id, verses, args.cache_dir, key)
        figure = attention_degeneracy(run.attention) if run.attention is not None else float("nan")
        sys.stdout.write(json.dumps({"model": model_id, "pairs": len(verses), "degeneracy": round(figure, 4)}) + "\n")


if __name__ == "__main__":
    main()
