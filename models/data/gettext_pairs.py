"""English <-> other-language sentence pairs from the gettext catalogs of installed Debian packages.

Deterministic: catalogs are read in sorted order, messages filtered to plain sentences,
then chosen by a hash of the English text, so the same machine setup gives the same set.
Run: python -m models.data.gettext_pairs pt 200 > pairs.tsv
"""

import gettext
import hashlib
import re
import sys
from pathlib import Path

LOCALE_DIR = Path("/usr/share/locale")
PLAIN = re.compile(r"^[A-Z][A-Za-z ,;:'()-]+[.!?]$")  # a sentence with no placeholders, markup or digits


def catalog_pairs(language: str) -> dict[str, str]:
    """msgid -> msgstr over every catalog of `language` (first catalog wins on duplicates)."""
    pairs: dict[str, str] = {}
    folders = sorted(LOCALE_DIR.glob(f"{language}*/LC_MESSAGES"))
    for mo in sorted(p for folder in folders for p in folder.glob("*.mo")):
        try:
            with mo.open("rb") as f:
                catalog = gettext.GNUTranslations(f)
        except (OSError, UnicodeDecodeError):  # not a catalog this Python can read
            continue
        for english, translated in catalog._catalog.items():  # type: ignore[attr-defined]
            if isinstance(english, str) and isinstance(translated, str):
                pairs.setdefault(english, translated)
    return pairs


def sentence_pairs(language: str, count: int, min_words: int = 4, max_words: int = 20) -> list[tuple[str, str]]:
    """`count` plain-sentence pairs whose two sides both look like sentences, in a stable order."""
    chosen = []
    for english, translated in catalog_pairs(language).items():
        words = english.split()
        if not (min_words <= len(words) <= max_words and PLAIN.match(english)):
            continue
        if "\n" in translated or "%" in translated or "_" in translated or not translated.strip():
            continue
        chosen.append((english, translated.strip()))
    chosen.sort(key=lambda pair: hashlib.sha256(pair[0].encode()).hexdigest())
    return chosen[:count]


if __name__ == "__main__":
    language, count = sys.argv[1], int(sys.argv[2])
    for english, translated in sentence_pairs(language, count):
        sys.stdout.write(f"{english}\t{translated}\n")
