"""Which ImageNet-1k classes each caption noun covers, through WordNet 3.0 (Debian `wordnet-base`).

ImageNet's classes are WordNet noun synsets (models/formats/imagenet_classes.tsv). A noun covers a class when
one of the noun's WordNet senses is the class's synset or one of its hypernyms (is-a ancestors, instance
hypernyms included): "dog" covers all 118 dog breeds, "cat" the five domestic cats, "car" the cab, the
convertible, the sports car... Of a noun's senses, the first (most frequent) one that covers any class is
used, so "mouse" is the rodent (sense 1) and not the computer mouse (sense 4). A few nouns are spelled
differently in WordNet (SPELLING), and a few were corrected by hand (OVERRIDES). Nouns with no class (e.g.
"person": ImageNet has no person class, but "groom" and "scuba diver" are persons) simply get what WordNet
gives, possibly nothing.

Run: python -m models.data.imagenet_words   (prints every noun's classes)
"""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path

from models.formats.efficientnet_lite import imagenet_classes

log = logging.getLogger(__name__)

WORDNET = Path("/usr/share/wordnet")  # Debian wordnet-base (WordNet 3.0)
SPELLING = {
    "teddy": "teddy_bear",
    "icecream": "ice_cream",
    "lightbulb": "light_bulb",
    "bin": "ashcan",
    "tv": "television",
}
# Looked at by hand after reading the printed table: WordNet's first covering sense is the wrong one for these
# (key -> "space bar", kite -> the bird, plant -> a factory, microscope -> "loupe"), or the right classes sit
# beside the noun's synset rather than under it (ImageNet's "ox" is cattle, not a cow hyponym; "cock" and "hen"
# hang under the chicken sense that comes after the food sense).
OVERRIDES: dict[str, tuple[str, ...]] = {
    "key": (),
    "kite": (),
    "microscope": (),
    "plant": ("n03991062",),
    "cow": ("n02403003",),
    "chicken": ("n01514668", "n01514859"),
}


@functools.cache
def _noun_data() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(offset -> hypernym offsets, lemma -> sense offsets in frequency order) from data.noun and index.noun."""
    hypernyms: dict[str, list[str]] = {}
    with open(WORDNET / "data.noun", encoding="utf-8") as f:
        for line in f:
            if line.startswith(" "):
                continue  # licence header
            fields = line.split(" | ")[0].split()
            offset, words = fields[0], int(fields[3], 16)
            at = 4 + 2 * words
            pointers = int(fields[at])
            ups = []
            for p in range(pointers):
                symbol, target, pos = fields[at + 1 + 4 * p], fields[at + 2 + 4 * p], fields[at + 3 + 4 * p]
                if symbol in ("@", "@i") and pos == "n":
                    ups.append(target)
            hypernyms[offset] = ups
    senses: dict[str, list[str]] = {}
    with open(WORDNET / "index.noun", encoding="utf-8") as f:
        for line in f:
            if line.startswith(" "):
                continue
            fields = line.split()
            count = int(fields[2])
            senses[fields[0]] = fields[-count:]
    return hypernyms, senses


@functools.cache
def _ancestors(offset: str) -> frozenset[str]:
    hypernyms, _ = _noun_data()
    found = {offset}
    for up in hypernyms.get(offset, []):
        found |= _ancestors(up)
    return frozenset(found)


def noun_classes(noun: str) -> list[int]:
    """ImageNet output ids the noun covers (see the module docstring), ascending; [] when none."""
    if noun in OVERRIDES:
        wnids = [wnid for wnid, _ in imagenet_classes()]
        return sorted(wnids.index(w) for w in OVERRIDES[noun])
    _, senses = _noun_data()
    class_ancestors = [_ancestors(wnid[1:]) for wnid, _ in imagenet_classes()]
    for sense in senses.get(SPELLING.get(noun, noun), []):
        ids = [i for i, ancestors in enumerate(class_ancestors) if sense in ancestors]
        if ids:
            return ids
    return []


def evidence_table(nouns: tuple[str, ...]) -> list[list[int]]:
    """noun_classes of every noun, in the given order."""
    if not (WORDNET / "data.noun").is_file():
        raise SystemExit(f"{WORDNET}/data.noun is missing: apt-get install wordnet-base (make data does)")
    return [noun_classes(n) for n in nouns]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from models.data.scene_objects import vocabulary

    names = imagenet_classes()
    nouns = vocabulary()
    for noun, ids in zip(nouns, evidence_table(nouns), strict=True):
        log.info("%-14s %3d  %s", noun, len(ids), "; ".join(names[i][1].split(",")[0] for i in ids[:6]))


if __name__ == "__main__":
    main()
