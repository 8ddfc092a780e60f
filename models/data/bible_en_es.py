"""English -> Spanish verse pairs from two public-domain Bibles, rebuilt deterministically.

Sources (Debian packages read with PyPI pysword==0.2.8):
  sword-text-web    module engWEB2015eb  World English Bible (NRSVA versification)
  sword-text-sparv  module spaRV1909eb   Reina-Valera 1909 (KJV versification)

Verses are paired by (book, chapter, verse), never by position, because the two
versifications differ. Footnotes (<note>...</note>), speaker labels, alternate readings
and non-canonical headings are removed from the raw OSIS text; canonical psalm titles
are kept (the Spanish text has them too).

Pairs whose references disagree between the two versifications are dropped (see
`misaligned`: word-length ratio, Strong's-number overlap with the verse and its
neighbours); the manifest counts them.

Split: by chapter. sha256("Book.chapter") decides: 5% of chapters go to test, 5% to
dev, the rest to train. The test split is never used for training or tuning.

Both texts tag words with Strong's numbers (<w lemma="strong:H7225">). For dev and test
verses we keep every (English word, Spanish word) pair that shares a number: a noisy,
lemma-level reference alignment for alignment-error-rate checks. Words are the
whitespace-separated tokens of the stored `en` / `es` text (punctuation stays attached).
Dev links exist so that a choice among attention heads is made off the test split.

Outputs under --out (default data/bible_en_es/):
  train.jsonl, dev.jsonl, test.jsonl   {"ref", "book", "chapter", "verse", "en", "es"}
  dev_strongs.jsonl, test_strongs.jsonl {"ref", "en_words", "es_words", "links": [[i, j]]}
  spm.model, spm.vocab                 shared SentencePiece unigram model, trained on train
  manifest.json                        counts, sources, options, sha256 of every file

Run: python -m models.data.bible_en_es [--out data/bible_en_es] [--vocab-size 8000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SWORD_PATH = "/usr/share/sword"
EN_MODULE = "engWEB2015eb"
ES_MODULE = "spaRV1909eb"
DEFAULT_OUT = Path("data/bible_en_es")
TEST_PERCENT = 5
DEV_PERCENT = 5
MAX_LENGTH_RATIO = 2.5  # word-count ratio above which a pair is a versification mismatch

# special ids of the SentencePiece model, shared with models/train/loop.py
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

_TAG = re.compile(r"<(/?)([A-Za-z]+)([^>]*?)(/?)>")
_STRONG = re.compile(r"\b([GH])0*(\d+)")
# elements whose whole content is dropped (unless canonical, for titles)
_DROP = {"note", "speaker", "rdg", "catchWord", "title"}
# inline elements: no word break at their boundaries
_INLINE = {"w", "q", "hi", "transChange", "foreign", "seg", "divineName", "name", "item"}
_NO_SPACE_BEFORE = set(",.;:!?’”)»]")


@dataclass(frozen=True)
class Verse:
    """One cleaned verse: its words and, per word, the Strong's numbers it carries."""

    words: tuple[str, ...]
    strongs: tuple[frozenset[str], ...]

    @property
    def text(self) -> str:
        return " ".join(self.words)


def parse_osis(raw: str) -> Verse:
    """Strip OSIS markup from one verse, keeping the Strong's numbers of every word."""
    chars: list[str] = []
    tags: list[frozenset[str]] = []
    current: frozenset[str] = frozenset()
    drop_depth = 0  # > 0 while inside a dropped element
    drop_stack: list[bool] = []  # per open dropped-kind element: did it start dropping?
    pending_space = False
    pos = 0
    for match in [*_TAG.finditer(raw), None]:
        end = match.start() if match else len(raw)
        if drop_depth == 0:
            for ch in raw[pos:end]:
                if pending_space and chars and not chars[-1].isspace():
                    if not ch.isspace() and ch not in _NO_SPACE_BEFORE:
                        chars.append(" ")
                        tags.append(frozenset())
                pending_space = False
                chars.append(ch)
                tags.append(current)
        if match is None:
            break
        pos = match.end()
        closing, name, attrs, selfclosing = match.groups()
        if name == "div" and re.search(r'type="(glossary|introduction)"', attrs):
            break  # back matter glued to the last verse of a book (WEB Rev 22:21)
        if name in _DROP and not selfclosing:
            if closing:
                if drop_stack and drop_stack.pop():
                    drop_depth -= 1
                    pending_space = True
            else:
                drops = not (name == "title" and 'canonical="true"' in attrs)
                drop_stack.append(drops)
                drop_depth += drops
            continue
        if drop_depth:
            continue
        if name == "w":
            if closing:
                current = frozenset()
            else:
                lemma = re.search(r'lemma="([^"]*)"', attrs)
                found = _STRONG.findall(lemma.group(1)) if lemma else []
                current = frozenset(f"{kind}{int(num)}" for kind, num in found)
        elif name not in _INLINE:
            pending_space = True  # line, paragraph, milestone: a word boundary
    words: list[str] = []
    strongs: list[frozenset[str]] = []
    word: list[str] = []
    numbers: set[str] = set()
    for ch, nums in zip([*chars, " "], [*tags, frozenset()], strict=True):
        if ch.isspace():
            if word:
                words.append("".join(word))
                strongs.append(frozenset(numbers))
            word, numbers = [], set()
        else:
            word.append(ch)
            numbers |= nums
    return Verse(tuple(words), tuple(strongs))


def fix_drop_cap(verse: Verse) -> Verse:
    """RV1909 writes the first word of a chapter in capitals ("EN el principio")."""
    if not verse.words:
        return verse
    first = verse.words[0]
    letters = [c for c in first if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters) and first.strip(".,;:") != "JEHOVÁ":
        return Verse((first.capitalize(), *verse.words[1:]), verse.strongs)
    return verse


def split_of(book: str, chapter: int) -> str:
    """Fixed split by chapter: the same chapter always lands in the same split."""
    bucket = int(hashlib.sha256(f"{book}.{chapter}".encode()).hexdigest()[:8], 16) % 100
    if bucket < TEST_PERCENT:
        return "test"
    if bucket < TEST_PERCENT + DEV_PERCENT:
        return "dev"
    return "train"


def read_module(name: str, sword_path: str = SWORD_PATH) -> dict[tuple[str, int, int], str]:
    """Raw OSIS text of every non-empty verse, keyed by (osis book, chapter, verse)."""
    from pysword.modules import SwordModules

    modules = SwordModules(sword_path)
    found = modules.parse_modules()
    if name not in found:
        raise FileNotFoundError(
            f"SWORD module {name} not found under {sword_path}: apt-get install sword-text-web sword-text-sparv"
        )
    bible = modules.get_bible_from_module(name)
    verses: dict[tuple[str, int, int], str] = {}
    for books in bible.get_structure().get_books().values():
        for book in books:
            for chapter, n_verses in enumerate(book.chapter_lengths, start=1):
                texts = bible.get_iter(books=[book.osis_name], chapters=[chapter], clean=False)
                for verse, raw in enumerate(texts, start=1):
                    if verse <= n_verses and raw and raw.strip():
                        verses[(book.osis_name, chapter, verse)] = raw
    return verses


def strong_links(en: Verse, es: Verse) -> list[list[int]]:
    """Every (English word i, Spanish word j) pair that shares a Strong's number."""
    return [[i, j] for i, a in enumerate(en.strongs) if a for j, b in enumerate(es.strongs) if a & b]


def _numbers(verse: Verse) -> frozenset[str]:
    return frozenset().union(*verse.strongs)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def misaligned(en: Verse, es: Verse, es_neighbours: list[Verse]) -> str | None:
    """Why this same-reference pair is not a translation pair, or None if it looks fine.

    The versifications differ (NRSVA vs KJV: Num 13, Job 39-41, 1Chr 6, ...), so some
    references point at different verses. Strong's numbers expose them: no shared
    number at all, or a neighbouring Spanish verse that shares clearly more.
    """
    n_en, n_es = len(en.words), len(es.words)
    if max(n_en, n_es) > MAX_LENGTH_RATIO * min(n_en, n_es) + 5:
        return "length"
    a, b = _numbers(en), _numbers(es)
    if not a or not b:
        return None  # untagged: nothing to check against
    same = _jaccard(a, b)
    if same == 0.0:
        return "no shared Strong's number"
    if any(_jaccard(a, _numbers(n)) > max(2 * same, 0.2) for n in es_neighbours):
        return "a neighbouring verse matches better"
    return None


def build_pairs(dropped: dict[str, int] | None = None) -> Iterator[tuple[dict[str, object], Verse, Verse]]:
    """Cleaned verse pairs in canonical (English module) order; counts skips in `dropped`."""
    en_raw = read_module(EN_MODULE)
    es_raw = read_module(ES_MODULE)
    logger.info("%s: %d verses, %s: %d verses", EN_MODULE, len(en_raw), ES_MODULE, len(es_raw))
    dropped = {} if dropped is None else dropped
    for key, raw in en_raw.items():
        if key not in es_raw:
            continue
        en, es = parse_osis(raw), parse_osis(es_raw[key])
        es = fix_drop_cap(es) if key[2] == 1 else es
        if not en.words or not es.words:
            continue
        book, chapter, verse = key
        neighbours = [
            parse_osis(es_raw[(book, chapter, v)]) for v in (verse - 1, verse + 1) if (book, chapter, v) in es_raw
        ]
        reason = misaligned(en, es, neighbours)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        record: dict[str, object] = {
            "ref": f"{book} {chapter}:{verse}",
            "book": book,
            "chapter": chapter,
            "verse": verse,
            "en": en.text,
            "es": es.text,
        }
        yield record, en, es


def train_spm(texts: list[str], folder: Path, vocab_size: int) -> None:
    """Shared unigram SentencePiece model -> folder/spm.model (+ spm.vocab, for reading).

    Deterministic: one thread, fixed input order, and the output path (which the trainer
    records in the model) is replaced by the constant "spm".
    """
    import io

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=buffer,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]
    proto.ParseFromString(buffer.getvalue())
    proto.trainer_spec.model_prefix = "spm"
    (folder / "spm.model").write_bytes(proto.SerializeToString())
    vocab = "".join(f"{piece.piece}\t{piece.score:g}\n" for piece in proto.pieces)
    (folder / "spm.vocab").write_text(vocab, encoding="utf-8")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(out: Path = DEFAULT_OUT, vocab_size: int = 8000) -> dict[str, object]:
    """Rebuild every file under `out`; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[dict[str, object]]] = {"train": [], "dev": [], "test": []}
    alignments: dict[str, list[dict[str, object]]] = {"dev": [], "test": []}
    dropped: dict[str, int] = {}
    for record, en, es in build_pairs(dropped):
        split = split_of(str(record["book"]), int(str(record["chapter"])))
        splits[split].append(record)
        if split in alignments:
            links = strong_links(en, es)
            alignments[split].append({"ref": record["ref"], "en_words": en.words, "es_words": es.words, "links": links})
    for split, records in splits.items():
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    for split, rows in alignments.items():
        with open(out / f"{split}_strongs.jsonl", "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    spm_texts = [str(r[lang]) for r in splits["train"] for lang in ("en", "es")]
    train_spm(spm_texts, out, vocab_size)
    files = ["train.jsonl", "dev.jsonl", "test.jsonl", "dev_strongs.jsonl", "test_strongs.jsonl", "spm.model"]
    manifest: dict[str, object] = {
        "sources": {
            EN_MODULE: "Debian sword-text-web (World English Bible), public domain",
            ES_MODULE: "Debian sword-text-sparv (Reina-Valera 1909), public domain",
        },
        "split": f"sha256('Book.chapter') % 100: <{TEST_PERCENT} test, <{TEST_PERCENT + DEV_PERCENT} dev, else train",
        "counts": {split: len(records) for split, records in splits.items()},
        "dropped_pairs": dropped,
        "test_verses_with_links": sum(1 for a in alignments["test"] if a["links"]),
        "dev_verses_with_links": sum(1 for a in alignments["dev"] if a["links"]),
        "spm": {
            "vocab_size": vocab_size,
            "model_type": "unigram",
            "shared": True,
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            "bos_id": BOS_ID,
            "eos_id": EOS_ID,
        },
        "sha256": {name: _sha256(out / name) for name in files},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--vocab-size", type=int, default=8000, help="SentencePiece vocab size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    manifest = build(args.out, args.vocab_size)
    logger.info("wrote %s: %s", args.out, json.dumps(manifest["counts"]))


if __name__ == "__main__":
    main()
