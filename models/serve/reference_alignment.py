"""A statistical reference alignment for one translated sentence: eflomal (Ostling & Tiedemann 2016) with
lexical, jump and fertility priors learned from a training corpus.

A single sentence gives eflomal's sampler nothing to learn from, so it is run with Dirichlet priors that
were counted from eflomal's own alignment of a whole corpus (written by models/train/eflomal_priors.py);
only the priors that mention a word of this sentence are passed on. The links are eflomal's forward
direction: at most one source word per target word, like the argmax of an attention row.

Words are the word-level axes of the attention maps (models.readouts.word_groups, special tokens left
out of the alignment); eflomal sees them with surrounding punctuation stripped and lowercased, as the
priors were counted.
"""

from __future__ import annotations

import gzip
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from models.contract import InputError
from models.readouts import SPECIAL

PUNCTUATION = ".,;:!?¡¿'\"“”‘’«»()[]—-"
EFLOMAL_OPTIONS = {"model": 3, "n_samplers": 3}  # eflomal defaults: IBM1 -> HMM -> fertility (also the evaluation's)


def eflomal_token(word: str) -> str:
    """A word as eflomal's vocabulary sees it: surrounding punctuation stripped (kept when nothing else)."""
    return word.strip(PUNCTUATION) or word


def is_aligned_word(word: str) -> bool:
    """Special tokens (</s>, <s>, [CLS] ...) and empty words take no part in the alignment."""
    return bool(word.strip()) and word not in SPECIAL and not word.startswith("<unk")


@dataclass(frozen=True)
class Priors:
    """Prior lines of a priors file (eflomal's format: LEX src trg alpha, FERF src fert alpha, FERR trg
    fert alpha, HMMF jump alpha, HMMR jump alpha), indexed by the word they mention."""

    lexical: dict[str, list[str]]  # lowercased source word -> its LEX lines
    source_fertility: dict[str, list[str]]  # lowercased source word -> FERF lines
    target_fertility: dict[str, list[str]]  # lowercased target word -> FERR lines
    jumps: tuple[str, ...]  # HMMF and HMMR lines, used for every sentence

    @staticmethod
    def read(path: Path) -> Priors:
        """Read a priors file (gzip when it ends in .gz). Raises ValueError on a malformed line."""
        opener = gzip.open if path.suffix == ".gz" else open
        lexical: dict[str, list[str]] = defaultdict(list)
        ferf: dict[str, list[str]] = defaultdict(list)
        ferr: dict[str, list[str]] = defaultdict(list)
        jumps: list[str] = []
        with opener(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                fields = line.rstrip("\n").split("\t")
                kind = fields[0]
                if kind == "LEX" and len(fields) == 4:
                    lexical[fields[1].lower()].append(line)
                elif kind == "FERF" and len(fields) == 4:
                    ferf[fields[1].lower()].append(line)
                elif kind == "FERR" and len(fields) == 4:
                    ferr[fields[1].lower()].append(line)
                elif kind in ("HMMF", "HMMR") and len(fields) == 3:
                    jumps.append(line)
                else:
                    raise ValueError(f"{path}: line {number} is not an eflomal prior: {line[:80]!r}")
        return Priors(dict(lexical), dict(ferf), dict(ferr), tuple(jumps))

    def for_sentence(self, source: Sequence[str], target: Sequence[str]) -> list[str]:
        """The prior lines that mention a word of this sentence pair (eflomal tokens)."""
        src = {w.lower() for w in source}
        tgt = {w.lower() for w in target}
        lines = [
            line
            for word in sorted(src)
            for line in self.lexical.get(word, ())
            if line.split("\t")[2].lower() in tgt
        ]
        lines += [line for word in sorted(src) for line in self.source_fertility.get(word, ())]
        lines += [line for word in sorted(tgt) for line in self.target_fertility.get(word, ())]
        return lines + list(self.jumps)


class ReferenceAligner:
    """eflomal with corpus priors, one sentence pair at a time."""

    def __init__(self, priors: Priors) -> None:
        self.priors = priors

    def links(self, source_words: Sequence[str], target_words: Sequence[str]) -> list[tuple[int, int]]:
        """[(target word index, source word index), ...] sorted, over the given word lists; words that
        is_aligned_word() rejects are never linked. Raises InputError when a side has no word to align."""
        src_index = [i for i, w in enumerate(source_words) if is_aligned_word(w)]
        tgt_index = [j for j, w in enumerate(target_words) if is_aligned_word(w)]
        if not src_index or not tgt_index:
            raise InputError("There is nothing to align: the source or the translation has no words.")
        source = [eflomal_token(source_words[i]) for i in src_index]
        target = [eflomal_token(target_words[j]) for j in tgt_index]
        from eflomal import Aligner

        with tempfile.TemporaryDirectory(prefix="attnviz-eflomal-") as folder:
            forward = Path(folder) / "links.fwd"
            Aligner(**EFLOMAL_OPTIONS).align(
                [" ".join(source) + "\n"],
                [" ".join(target) + "\n"],
                links_filename_fwd=str(forward),
                priors_input=self.priors.for_sentence(source, target),
            )
            pairs = [p.split("-") for p in forward.read_text().split()]
        return sorted((tgt_index[int(j)], src_index[int(i)]) for i, j in pairs)


def load_reference_aligner(priors_path: str) -> ReferenceAligner:
    """The aligner with the priors file at priors_path. Raises FileNotFoundError when it is missing."""
    path = Path(priors_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build it with `python -m models.train.eflomal_priors`")
    return ReferenceAligner(Priors.read(path))
