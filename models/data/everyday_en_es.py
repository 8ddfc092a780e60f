"""One English -> Spanish training mix: Bible verses, human software/help translations, Apertium-translated English.

Sources, read in this order (an exact duplicate keeps its first occurrence), each pair tagged:
  bible              data/bible_en_es/{train,dev}.jsonl exactly as models/data/bible_en_es.py builds them
                     (its chapter split kept; its test.jsonl stays the Bible test set, referenced by sha256)
  libreoffice-help   help pages, paragraphs paired by par_id / hd_id           (everyday_sources)
  libreoffice-ui     the 33 .mo catalogs of libreoffice-l10n-es                   (everyday_sources)
  gettext            the system catalogs of GETTEXT_CATALOGS                      (everyday_sources)
  gnome-help         gnome-user-docs Mallard pages, paired by structure           (everyday_sources)
  tuxpaint           stamp descriptions                                           (everyday_sources)
  apertium-wordnet   WordNet example sentences -> apertium eng-spa               (everyday_apertium)
  apertium-fortunes  fortune sentences -> apertium eng-spa                        (everyday_apertium)

Filters (models/data/everyday_text.py): every non-Bible pair must be sentence-like on both sides,
3-40 words a side, length ratio bounded, translated (en != es). Tux Paint lines are the exception:
all of them go to the test set, so they only need 1-40 words a side and a bounded ratio.

Split by document, never by line (doc = file, page, catalog, synset, fortune or verse ref):
  test_everyday  every Tux Paint line + the LibreOffice help pages with sha256("libreoffice-help:"
                 + page) % 100 < TEST_PERCENT: human translations only, never trained on or tuned on
  dev            Bible dev + help pages in the next DEV_PERCENT buckets + APERTIUM_DEV_PERCENT of the
                 Apertium documents (tagged; the human dev pairs are the ones to choose with)
  train          everything else
Deduplication, held-out sets first (test_everyday, then dev, then train): an exact repeat of an
(en, es) pair already kept is dropped, and so is a pair whose English equals (lower-cased, punctuation
removed) the English of a Bible test verse or of a pair kept in an earlier split, so no English
sentence is in two of train, dev, test_everyday and the Bible test set.

Outputs under --out (default data/en_es_mix/):
  train.jsonl, dev.jsonl, test_everyday.jsonl   {"en", "es", "source", "doc"}, one pair a line
  spm.model, spm.vocab   shared SentencePiece unigram model trained on train's en and es lines
  manifest.json          counts per source and split, drops, licences, package versions, sha256

Run after models.data.bible_en_es:
  python -m models.data.everyday_en_es [--out data/en_es_mix] [--bible data/bible_en_es] [--vocab-size 8000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from models.data import everyday_apertium as apertium
from models.data import everyday_sources as human
from models.data.bible_en_es import DEFAULT_OUT as BIBLE_OUT
from models.data.bible_en_es import train_spm
from models.data.everyday_text import (
    APERTIUM_SOURCES,
    MAX_WORDS,
    MIN_WORDS,
    SOURCES,
    Pair,
    keep,
    length_ok,
    sentence_like,
)

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path("data/en_es_mix")
VOCAB_SIZE = 8000  # as the Bible-only models: 1.51 pieces per word on test_everyday (16000: 1.39), half the softmax
TEST_PERCENT = 5  # of LibreOffice help pages
DEV_PERCENT = 5  # of LibreOffice help pages
APERTIUM_DEV_PERCENT = 2  # of WordNet synsets and fortunes
SPLITS = ("train", "dev", "test_everyday")
LICENCES = {
    "bible": "public domain (World English Bible; Reina-Valera 1909)",
    "libreoffice-help": "MPL-2.0 (parts Apache-2.0), Debian libreoffice-help-en-us + libreoffice-help-es",
    "libreoffice-ui": "MPL-2.0 (parts Apache-2.0), Debian libreoffice-l10n-es",
    "gettext": "each catalog under its package's licence (GPL-2+, GPL-3+ or LGPL-2.1+ for most), "
    "see /usr/share/doc/<package>/copyright",
    "gnome-help": "CC-BY-SA-3.0, Debian gnome-user-docs",
    "tuxpaint": "GPL-2, Debian tuxpaint-stamps-default",
    "apertium-wordnet": "English: WordNet 3.0 licence (Princeton, BSD-like), Debian wordnet-base; "
    "Spanish: Apertium eng-spa output (apertium-eng-spa is GPL-2)",
    "apertium-fortunes": "English: fortune-mod cookie files (BSD licence; quotations of many authors),"
    " Debian fortunes + fortunes-min; Spanish: Apertium eng-spa output (apertium-eng-spa is GPL-2)",
}
# Debian packages the sources come from (`make data` installs them; the manifest records their versions)
DEBIAN_PACKAGES = tuple(
    sorted(
        {
            "libreoffice-help-en-us",
            "libreoffice-help-es",
            "libreoffice-l10n-es",
            "gnome-user-docs",
            "tuxpaint-stamps-default",
            "apertium",
            "apertium-eng-spa",
            "wordnet-base",
            "fortunes",
            "fortunes-min",
            *human.GETTEXT_CATALOGS.values(),
        }
    )
)


@dataclass(frozen=True)
class Inputs:
    """Where each source is read (the Debian install paths; tests point them at small fixtures)."""

    bible: Path = BIBLE_OUT
    libreoffice_help: Path = human.LO_HELP_ROOT
    libreoffice_ui: Path = human.LO_UI_DIR
    locale: Path = human.LOCALE_DIR
    gettext_domains: tuple[str, ...] = tuple(sorted(human.GETTEXT_CATALOGS))
    gnome_help: Path = human.GNOME_HELP_ROOT
    tuxpaint: Path = human.TUXPAINT_ROOT
    wordnet: Path = apertium.WORDNET_DIR
    fortunes: Path = apertium.FORTUNES_DIR


def _bucket(source: str, doc: str) -> int:
    return int(hashlib.sha256(f"{source}:{doc}".encode()).hexdigest()[:8], 16) % 100


def split_of(pair: Pair) -> str:
    """The split of a non-Bible pair, a function of its source and document only."""
    if pair.source == "tuxpaint":
        return "test_everyday"
    bucket = _bucket(pair.source, pair.doc)
    if pair.source == "libreoffice-help":
        return "test_everyday" if bucket < TEST_PERCENT else "dev" if bucket < TEST_PERCENT + DEV_PERCENT else "train"
    if pair.source in APERTIUM_SOURCES:
        return "dev" if bucket < APERTIUM_DEV_PERCENT else "train"
    return "train"


def loose(text: str) -> str:
    """The key a held-out sentence blocks: lower case, no punctuation, single spaces."""
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_bible(folder: Path) -> dict[str, list[Pair]]:
    """The Bible builder's train/dev/test pairs (doc = verse ref), after checking its manifest's sha256."""
    manifest = json.loads((folder / "manifest.json").read_text())
    pairs: dict[str, list[Pair]] = {}
    for split in ("train", "dev", "test"):
        path = folder / f"{split}.jsonl"
        if _sha256(path) != manifest["sha256"][path.name]:
            raise ValueError(
                f"{path} does not match {folder / 'manifest.json'}: rerun python -m models.data.bible_en_es"
            )
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        pairs[split] = [Pair(row["en"], row["es"], "bible", row["ref"]) for row in rows]
    return pairs


def _require(path: Path, package: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: apt-get install {package} (or run `make data`)")
    return path


def read_human(inputs: Inputs) -> dict[str, list[Pair]]:
    """Every raw pair of the human-translated sources, source by source."""
    catalogs = [_require(inputs.locale / f"{d}.mo", human.GETTEXT_CATALOGS.get(d, d)) for d in inputs.gettext_domains]
    ui = sorted(_require(inputs.libreoffice_ui, "libreoffice-l10n-es").glob("*.mo"))
    return {
        "libreoffice-help": list(human.libreoffice_help(_require(inputs.libreoffice_help, "libreoffice-help-es"))),
        "libreoffice-ui": list(human.catalog_pairs(ui, "libreoffice-ui")),
        "gettext": list(human.catalog_pairs(catalogs, "gettext")),
        "gnome-help": list(human.gnome_help(_require(inputs.gnome_help, "gnome-user-docs"))),
        "tuxpaint": list(human.tuxpaint(_require(inputs.tuxpaint, "tuxpaint-stamps-default"))),
    }


def english_ok(en: str) -> bool:
    """An English sentence worth sending to Apertium."""
    return sentence_like(en) and MIN_WORDS <= len(en.split()) <= MAX_WORDS


def read_apertium(
    inputs: Inputs, translate: apertium.Translator
) -> tuple[dict[str, list[Pair]], dict[str, dict[str, int]]]:
    """WordNet and fortune sentences with their Apertium translations, and per source: English sentences
    read, left out before translation (not sentence-like, too short or long), and translations with unknown words."""
    items = {
        "apertium-wordnet": apertium.wordnet_sentences(_require(inputs.wordnet, "wordnet-base")),
        "apertium-fortunes": apertium.fortune_sentences(_require(inputs.fortunes, "fortunes")),
    }
    pairs: dict[str, list[Pair]] = {}
    stats: dict[str, dict[str, int]] = {}
    for source, sentences in items.items():
        pairs[source], counts = apertium.translated(source, sentences, translate, english_ok)
        stats[source] = {
            "english_read": counts["read"],
            "english_filtered": counts["read"] - counts["accepted"],
            "apertium_unknown_words": counts["accepted"] - len(pairs[source]),
        }
        logger.info("%s: %s", source, counts)
    return pairs, stats


def passes(pair: Pair) -> bool:
    """The filter of a non-Bible pair (Tux Paint lines, all test, only need a sane length)."""
    if pair.source == "tuxpaint":
        return pair.en != pair.es and length_ok(pair.en, pair.es, min_words=1)
    return keep(pair)


def deduplicate(
    candidates: dict[str, list[Pair]], blocked_en: Iterable[str], counts: dict[str, dict[str, int]]
) -> dict[str, list[Pair]]:
    """Held-out splits first: drop exact (en, es) repeats and later splits' pairs with a held-out English side."""
    seen: set[tuple[str, str]] = set()
    blocked = {loose(en) for en in blocked_en}
    kept: dict[str, list[Pair]] = {}
    for split in ("test_everyday", "dev", "train"):
        out = []
        for pair in candidates[split]:
            if (pair.en, pair.es) in seen:
                counts[pair.source]["duplicate"] += 1
            elif loose(pair.en) in blocked:
                counts[pair.source]["held_out_english"] += 1
            else:
                seen.add((pair.en, pair.es))
                out.append(pair)
                counts[pair.source][split] += 1
        blocked |= {loose(pair.en) for pair in out}
        kept[split] = out
    return kept


def build(
    out: Path = DEFAULT_OUT,
    inputs: Inputs | None = None,
    vocab_size: int = VOCAB_SIZE,
    translate: apertium.Translator | None = None,
    versions: dict[str, str] | None = None,
) -> dict[str, object]:
    """Rebuild every file under `out` from `inputs`; returns the manifest."""
    inputs = inputs or Inputs()
    translate = translate or apertium.apertium_translate
    start = time.monotonic()
    bible = read_bible(inputs.bible)
    raw = read_human(inputs)
    translated, apertium_stats = read_apertium(inputs, translate)
    raw.update(translated)
    counts = {
        s: {"read": 0, "filtered": 0, "duplicate": 0, "held_out_english": 0} | dict.fromkeys(SPLITS, 0) for s in SOURCES
    }
    for source, stats in apertium_stats.items():
        counts[source] = stats | counts[source]
    candidates: dict[str, list[Pair]] = {"train": list(bible["train"]), "dev": list(bible["dev"]), "test_everyday": []}
    counts["bible"]["read"] = len(bible["train"]) + len(bible["dev"])
    for source, pairs in raw.items():
        counts[source]["read"] = len(pairs)
        for pair in pairs:
            if passes(pair):
                candidates[split_of(pair)].append(pair)
            else:
                counts[source]["filtered"] += 1
    splits = deduplicate(candidates, [p.en for p in bible["test"]], counts)

    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for pair in splits[split]:
                f.write(json.dumps(pair.record(), ensure_ascii=False) + "\n")
    train_spm([text for pair in splits["train"] for text in (pair.en, pair.es)], out, vocab_size)
    files = [f"{split}.jsonl" for split in SPLITS] + ["spm.model", "spm.vocab"]
    bible_test = inputs.bible / "test.jsonl"
    manifest: dict[str, object] = {
        "sources": {source: LICENCES[source] for source in SOURCES},
        "debian_packages": versions or {},
        "gettext_catalogs": list(inputs.gettext_domains),
        "split": (
            f"by document: test_everyday = all tuxpaint + libreoffice-help pages with sha256('libreoffice-help:'+page)"
            f" % 100 < {TEST_PERCENT}; dev = bible dev + help pages < {TEST_PERCENT + DEV_PERCENT} + apertium docs"
            f" < {APERTIUM_DEV_PERCENT}; train = the rest"
        ),
        "filters": {"min_words": MIN_WORDS, "max_words": MAX_WORDS, "tuxpaint_min_words": 1, "bible": "as built"},
        "counts": {split: len(splits[split]) for split in SPLITS},
        "counts_by_source": counts,
        "bible_test": {"path": bible_test.as_posix(), "pairs": len(bible["test"]), "sha256": _sha256(bible_test)},
        "spm": {"vocab_size": vocab_size, "model_type": "unigram", "shared": True, "trained_on": "train.jsonl en + es"},
        "commands": [
            "make data",
            "python -m models.data.bible_en_es",
            f"python -m models.data.everyday_en_es --out {out.as_posix()} --vocab-size {vocab_size}",
        ],
        "sha256": {name: _sha256(out / name) for name in files},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("built %s in %.0f s", out, time.monotonic() - start)
    return manifest


def package_versions(packages: Iterable[str] = DEBIAN_PACKAGES) -> dict[str, str]:
    """Installed version of each source package (dpkg-query), for the manifest."""
    if shutil.which("dpkg-query") is None:
        return {}
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *packages], capture_output=True, text=True, check=False
    )
    return dict(sorted(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--bible", type=Path, default=BIBLE_OUT, help="output folder of models.data.bible_en_es")
    parser.add_argument("--vocab-size", type=int, default=VOCAB_SIZE, help="SentencePiece vocab size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    manifest = build(args.out, Inputs(bible=args.bible), args.vocab_size, versions=package_versions())
    logger.info("wrote %s: %s", args.out, json.dumps(manifest["counts"]))


if __name__ == "__main__":
    main()
