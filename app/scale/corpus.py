"""Corpora for `attnviz analyze`: a text file with one sentence per line, or a built-in split by name."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from app.core.config import REPO_ROOT

# name -> (jsonl file under the repository, field holding the sentence, what it is)
BUILT_IN: dict[str, tuple[str, str, str]] = {
    "bible-test": ("data/bible_en_es/test.jsonl", "en", "English side of the Bible EN-ES test split"),
    "mix-dev": ("data/en_es_mix/dev.jsonl", "en", "English side of the everyday EN-ES mix, dev split"),
}
MAX_SENTENCE_CHARS = 2000  # the API's own limit (Settings.max_text_chars): longer lines are refused, not cut


class CorpusError(ValueError):
    """The corpus cannot be read; the message says why."""


@dataclass(frozen=True)
class Corpus:
    name: str  # a short slug: the built-in name or the file's stem
    description: str
    sentences: tuple[str, ...]

    def digest(self) -> str:
        """sha256 of the sentences, so a rerun can tell whether its shards belong to the same corpus."""
        return hashlib.sha256("\n".join(self.sentences).encode()).hexdigest()


def load_corpus(spec: str, limit: int | None = None) -> Corpus:
    """A built-in name (BUILT_IN) or a UTF-8 text file, one sentence per line (blank lines skipped);
    the first `limit` sentences when given."""
    if spec in BUILT_IN:
        rel, field, what = BUILT_IN[spec]
        path = REPO_ROOT / rel
        if not path.is_file():
            raise CorpusError(f"{rel} is missing: run `make data` to build the built-in corpus {spec!r}")
        lines = path.read_text(encoding="utf-8").splitlines()
        sentences = [str(json.loads(line)[field]).strip() for line in lines if line.strip()]
        name, description = spec, f"{what} ({rel})"
    else:
        path = Path(spec)
        if not path.is_file():
            raise CorpusError(f"{spec} is neither a file nor a built-in corpus ({', '.join(BUILT_IN)})")
        try:
            sentences = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{spec} is not UTF-8 text: {exc}") from None
        name, description = path.stem, f"sentences of {path.name}, one per line"
    sentences = [s for s in sentences if s]
    if limit is not None:
        sentences = sentences[:limit]
        description += f", first {len(sentences)}"
    too_long = [i for i, s in enumerate(sentences) if len(s) > MAX_SENTENCE_CHARS]
    if too_long:
        raise CorpusError(f"sentence {too_long[0] + 1} is over {MAX_SENTENCE_CHARS} characters")
    if not sentences:
        raise CorpusError(f"{spec} holds no sentences")
    return Corpus(name, description, tuple(sentences))
