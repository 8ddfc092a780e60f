"""Text rules shared by the everyday English-Spanish readers: one pair record, normalisation, filters.

Every reader of models/data/everyday_sources.py and models/data/everyday_apertium.py yields `Pair`s
whose two sides went through `normalise`; the builder (models/data/everyday_en_es.py) keeps a pair
only if `keep` says so. The rules are plain functions of the text, so a rebuild gives the same pairs:

- `normalise`: Unicode NFC, no-break and other spaces -> one space, soft hyphens and zero-width
  characters removed, whitespace collapsed.
- `strip_markup`: HTML/XML tags removed, the five XML entities and numeric references decoded.
- `clean_chars`: only Latin letters (with accents), digits, spaces and common punctuation, so the
  shared SentencePiece model (character coverage 1.0) spends no pieces on stray scripts or symbols.
- `sentence_like`: starts with an upper-case letter, digit or opening quote/bracket, ends with
  . ! ? (optionally followed by a closing quote or bracket), has lower-case letters, and no
  placeholders, paths, URLs, code or key names left over from software strings.
- `length_ok`: MIN_WORDS..MAX_WORDS whitespace words on each side and at most
  MAX_RATIO * shorter + RATIO_SLACK words on the longer side.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

MIN_WORDS = 3  # a training pair has at least this many words on each side
MAX_WORDS = 40  # ... and at most this many
MAX_RATIO = 2.0  # the longer side has at most MAX_RATIO * shorter + RATIO_SLACK words
RATIO_SLACK = 2

# every pair's `source`, in the order the builder reads them (earlier wins an exact duplicate)
SOURCES = (
    "bible",
    "libreoffice-help",
    "libreoffice-ui",
    "gettext",
    "gnome-help",
    "tuxpaint",
    "apertium-wordnet",
    "apertium-fortunes",
)
APERTIUM_SOURCES = ("apertium-wordnet", "apertium-fortunes")  # machine-translated Spanish side


@dataclass(frozen=True)
class Pair:
    """One English sentence and its Spanish translation, with where it came from."""

    en: str
    es: str
    source: str  # one of SOURCES
    doc: str  # the document the pair belongs to: a file path relative to its source root, or a verse ref

    def record(self) -> dict[str, str]:
        return {"en": self.en, "es": self.es, "source": self.source, "doc": self.doc}


_SPACES = re.compile(r"\s+")
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))  # soft hyphen, zero-width
_TAG = re.compile(r"<[^<>]*>")
_PUNCTUATION = set(" .,;:!?¡¿'\"()-–—‘’“”«»…/%&+")
# text a software string leaves behind: placeholders, paths, URLs, code, keys, menus, e-mail
_SOFTWARE = re.compile(
    r"[%$#@_=<>{}\[\]\\|^~*`]|https?:|www\.|::|->|[A-Za-z]/[A-Za-z]"
    r"|\.(txt|html?|xml|xsl|odt|ods|odp|odg|docx?|xlsx?|pptx?|pdf|png|jpe?g|gif|svg|csv|exe|dll|so|py|js|sh|conf|ini)\b"
    r"|\b(Ctrl|Alt|Shift|Cmd|Command|Option|Fn)\+|\+[A-Z]",
    re.IGNORECASE,
)
_START = re.compile(r"^[\"'“‘«(¡¿]*[A-ZÁÉÍÓÚÑÜ0-9]")
_END = re.compile(r"[.!?][\"'”’»)]*$")


def normalise(text: str) -> str:
    """NFC, no invisible characters, every run of whitespace (no-break spaces too) -> one space."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    return _SPACES.sub(" ", text.replace("\u00a0", " ")).strip()


def strip_markup(text: str) -> str:
    """Tags removed, entities decoded, then `normalise`d."""
    return normalise(html.unescape(_TAG.sub("", text)))


def clean_chars(text: str) -> bool:
    """Only Latin letters, digits, spaces and common punctuation."""
    for ch in text:
        if ch in _PUNCTUATION or ch.isdigit() and ch.isascii():
            continue
        if not ch.isalpha() or not unicodedata.name(ch, "").startswith("LATIN "):
            return False
    return True


def sentence_like(text: str) -> bool:
    """A plain sentence (or a few): capitalised, final punctuation, no software leftovers."""
    return bool(
        _START.match(text)
        and _END.search(text)
        and any(ch.islower() for ch in text)
        and not _SOFTWARE.search(text)
        and clean_chars(text)
    )


def length_ok(en: str, es: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> bool:
    """Word counts within bounds on both sides and close enough to each other."""
    n_en, n_es = len(en.split()), len(es.split())
    if not (min_words <= n_en <= max_words and min_words <= n_es <= max_words):
        return False
    return max(n_en, n_es) <= MAX_RATIO * min(n_en, n_es) + RATIO_SLACK


def keep(pair: Pair, min_words: int = MIN_WORDS) -> bool:
    """The builder's filter for every non-Bible pair: a translated, sentence-like, length-bounded pair."""
    return (
        pair.en != pair.es
        and sentence_like(pair.en)
        and sentence_like(pair.es)
        and length_ok(pair.en, pair.es, min_words=min_words)
    )
