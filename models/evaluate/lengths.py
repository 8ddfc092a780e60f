"""BLEU by source length: corpus BLEU within buckets of English source length in whitespace words."""

from __future__ import annotations

from collections.abc import Sequence

BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 10), (11, 20), (21, 30), (31, None))


def bucket_name(low: int, high: int | None) -> str:
    return f"{low}-{high}" if high is not None else f"{low}+"


BUCKET_NAMES = tuple(bucket_name(low, high) for low, high in BUCKETS)  # '1-10', '11-20', '21-30', '31+'


def length_bucket(n_words: int) -> str:
    """The bucket of a source of n_words English words: '1-10', '11-20', '21-30' or '31+'."""
    for low, high in BUCKETS:
        if n_words >= low and (high is None or n_words <= high):
            return bucket_name(low, high)
    raise ValueError(f"a source has at least 1 word, got {n_words}")


def bucket_sizes(sources: Sequence[str]) -> dict[str, int]:
    """How many sources fall in each bucket."""
    buckets = [length_bucket(len(s.split())) for s in sources]
    return {name: buckets.count(name) for name in BUCKET_NAMES}


def bleu_by_length(hyps: Sequence[str], refs: Sequence[str], sources: Sequence[str]) -> dict[str, float | None]:
    """Corpus BLEU of the verses in each source-length bucket (None for an empty bucket)."""
    import sacrebleu

    scores: dict[str, float | None] = {}
    buckets = [length_bucket(len(s.split())) for s in sources]
    for name in BUCKET_NAMES:
        idx = [i for i, b in enumerate(buckets) if b == name]
        if not idx:
            scores[name] = None
            continue
        bleu = sacrebleu.corpus_bleu([hyps[i] for i in idx], [[refs[i] for i in idx]])
        scores[name] = round(bleu.score, 2)
    return scores
