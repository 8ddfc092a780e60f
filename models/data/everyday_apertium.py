"""Modern monolingual English, translated into Spanish by the rule-based Apertium engine.

Apertium (Debian apertium + apertium-eng-spa, GPL-2) is a teacher for everyday words and
constructions that neither the Bible nor software help has; its Spanish is never a test reference.

English sources (each item is (doc, sentence)):
  wordnet_sentences  wordnet-base: the quoted example strings of every synset gloss
                     ("the oceans are teeming with life"), first letter capitalised and a final
                     full stop added when missing; doc = "data.<pos>:<synset offset>".
  fortune_sentences  fortunes + fortunes-min (never fortunes-off): each fortune's text without
                     its "-- Author" attribution and [editor's notes], split into sentences;
                     doc = "<file>:<fortune number>". The ascii-art file is left out.

`apertium_translate` runs `apertium eng-spa` (LC_ALL=C.UTF-8) on batches of sentences separated
by blank lines (a blank line keeps the final punctuation), without -u, so unknown words come back
marked "*word". `spanish_side` keeps a translation only if every unknown word is a capitalised
name that also stands capitalised mid-sentence in the English (names pass through untranslated),
and no generation (#) or transfer (@) error mark is left; the marks are then removed, the space
Apertium leaves before punctuation too, and a one-sentence question or exclamation (no inner
punctuation or quotes) gets the opening "¿" or "¡" Apertium does not write.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from models.data.everyday_text import Pair, normalise

logger = logging.getLogger(__name__)

WORDNET_DIR = Path("/usr/share/wordnet")
FORTUNES_DIR = Path("/usr/share/games/fortunes")
FORTUNE_SKIP = ("ascii-art",)  # pictures, not sentences
BATCH = 400  # sentences per apertium call

Translator = Callable[[list[str]], list[str]]  # English sentences -> raw Apertium output, same length

_EXAMPLE = re.compile(r'"([^"]+)"')
_OVERSTRIKE = re.compile(r".\x08")
_ATTRIBUTION = re.compile(r"^\s*--")
_NOTE = re.compile(r"\[[^\]]*\]")
_ABBREVIATIONS = re.compile(r"\b(Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Col|Capt|Lt|vs|etc|e\.g|i\.e|U\.S|a\.m|p\.m|No)\.$")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s+[\"'(]*[A-Z])")
_UNKNOWN = re.compile(r"\*(\w[\w'-]*)")
_INNER_BREAK = re.compile(r"[.!?;:\"'«»“”‘’()]")  # more than one plain sentence
_SPACE_BEFORE = re.compile(r" ([,.;:!?])")  # Apertium leaves "lógica , dado"
_MARKS = re.compile(r"[*#@]")  # Apertium's marks of unknown (*) and badly generated (#, @) words


def wordnet_sentences(root: Path = WORDNET_DIR) -> Iterator[tuple[str, str]]:
    """(doc, sentence) for every example string of every synset, file by file, in file order."""
    for pos in ("adj", "adv", "noun", "verb"):
        for line in (root / f"data.{pos}").read_text(encoding="utf-8").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue  # licence header
            offset, gloss = line.split(" ", 1)[0], line.split("|", 1)[1]
            for example in _EXAMPLE.findall(gloss):
                text = normalise(example)
                if not text:
                    continue
                text = text[0].upper() + text[1:]
                if text[-1] not in ".!?":
                    text += "."
                yield f"data.{pos}:{offset}", text


def split_sentences(text: str) -> list[str]:
    """Split at . ! ? followed by a space and a capital, except after a known abbreviation."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.end()]
        if _ABBREVIATIONS.search(candidate):
            continue
        sentences.append(candidate.strip())
        start = match.end()
    rest = text[start:].strip()
    return [s for s in [*sentences, rest] if s]


def fortune_sentences(root: Path = FORTUNES_DIR, skip: tuple[str, ...] = FORTUNE_SKIP) -> Iterator[tuple[str, str]]:
    """(doc, sentence) for every sentence of every fortune, files in name order."""
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.suffix and p.name not in skip)
    for path in files:
        raw = _OVERSTRIKE.sub("", path.read_text(encoding="utf-8", errors="replace"))
        for number, fortune in enumerate(raw.split("\n%\n")):
            lines = [line for line in fortune.splitlines() if not _ATTRIBUTION.match(line) and line.strip() != "%"]
            text = normalise(_NOTE.sub(" ", " ".join(lines)))
            for sentence in split_sentences(text):
                yield f"{path.name}:{number}", sentence


def apertium_translate(sentences: list[str], batch: int = BATCH) -> list[str]:
    """Raw `apertium eng-spa` output (unknown words marked "*") for each sentence, in order."""
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    out: list[str] = []
    for start in range(0, len(sentences), batch):
        chunk = sentences[start : start + batch]
        result = subprocess.run(
            ["apertium", "eng-spa"],
            input="\n\n".join(chunk) + "\n",
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        pieces = [normalise(p) for p in result.stdout.strip().split("\n\n")]
        if len(pieces) != len(chunk) and len(chunk) == 1:
            pieces = [normalise(result.stdout)]  # one sentence the formatter broke into paragraphs
        elif len(pieces) != len(chunk):  # a sentence split or joined somewhere: one call per sentence
            logger.warning("apertium returned %d pieces for %d sentences; retrying one by one", len(pieces), len(chunk))
            pieces = [apertium_translate([s])[0] for s in chunk]
        out.extend(pieces)
    return out


def spanish_side(english: str, raw: str) -> str | None:
    """The translation without Apertium's marks, or None when it left words untranslated or broken."""
    if "#" in raw or "@" in raw:
        return None
    names = {w.strip(".,;:!?\"'()") for w in english.split()[1:]}  # words after the first
    for word in _UNKNOWN.findall(raw):
        if not (word[0].isupper() and word in names):
            return None
    return cleaned(raw)


def cleaned(raw: str) -> str:
    """Apertium's output without its marks (* unknown, # and @ broken), spacing before punctuation fixed and
    the opening ¿ or ¡ added."""
    return opening_mark(_SPACE_BEFORE.sub(r"\1", normalise(_MARKS.sub("", raw))))


def opening_mark(es: str) -> str:
    """ "¿" or "¡" before a one-sentence question or exclamation, which Apertium leaves out."""
    for close, opening in (("?", "¿"), ("!", "¡")):
        if es.endswith(close) and opening not in es and not _INNER_BREAK.search(es[:-1]):
            return opening + es
    return es


def translated(
    source: str, items: Iterable[tuple[str, str]], translate: Translator, accept: Callable[[str], bool]
) -> tuple[list[Pair], dict[str, int]]:
    """Pairs for the English items that `accept` admits, each distinct sentence translated once.

    Returns the pairs (in item order) and counts: items read, accepted, translated, unknown words.
    """
    read = list(items)
    accepted = [(doc, en) for doc, en in read if accept(en)]
    counts = {"read": len(read), "accepted": len(accepted)}
    distinct = sorted({en for _, en in accepted})
    raw = dict(zip(distinct, translate(distinct), strict=True))
    pairs = []
    for doc, en in accepted:
        es = spanish_side(en, raw[en])
        if es is not None:
            pairs.append(Pair(en, es, source, doc))
    counts["distinct"] = len(distinct)
    counts["translated"] = sum(1 for en in distinct if spanish_side(en, raw[en]) is not None)
    return pairs, counts
