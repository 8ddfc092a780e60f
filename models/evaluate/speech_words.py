"""Words of a transcript for scoring speech: a small normaliser and two word alignments (the edit distance of the
word error rate, and the pairing of placed words with heard words for word timings)."""

import difflib
import re

import numpy as np

UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
    "seventeen eighteen nineteen".split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
TITLES = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def number_words(n: int) -> str:
    if n < 20:
        return UNITS[n]
    tens, unit = divmod(n, 10)
    return TENS[tens - 2] + ("" if unit == 0 else " " + UNITS[unit])


def normalise(text: str) -> list[str]:
    """Words for scoring: lower case, hyphens as spaces, punctuation dropped, 0-99 spelled out, titles expanded."""
    text = re.sub(r"[-‐–—]", " ", text.lower())
    words = []
    for word in re.sub(r"[^a-z0-9' ]", " ", text).split():
        word = word.strip("'")
        if word.isdigit() and int(word) < 100:
            words += number_words(int(word)).split()
        elif word:
            words.append(TITLES.get(word, word))
    return words


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions, insertions, deletions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def align_words(placed: list[str], heard: list[str]) -> list[tuple[int | None, int | None]]:
    """Word-level Levenshtein alignment as (placed index, heard index) pairs in order: (i, None) a placed word
    not heard (deletion), (None, j) a heard word not placed (insertion), (i, j) a match or a substitution.
    Among alignments with the fewest edits, substitutions of similar spellings win ("jumps" pairs with "jump"
    rather than with the word after it); then, read from the end, a pair before a deletion before an insertion."""
    n, m = len(placed), len(heard)

    def substitution(i: int, j: int) -> float:  # 1 per edit, plus under 1e-3 for how unalike the spellings are
        a, b = placed[i], heard[j]
        return 0.0 if a == b else 1.0 + 1e-3 * (1 - difflib.SequenceMatcher(a=a, b=b).ratio()) / (n + m)

    cost = np.zeros((n + 1, m + 1))  # cost[i, j]: placed[:i] against heard[:j]
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j - 1] + substitution(i - 1, j - 1), cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    pairs: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i, j] == cost[i - 1, j - 1] + substitution(i - 1, j - 1):
            i, j = i - 1, j - 1
            pairs.append((i, j))
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
            pairs.append((i, None))
        else:
            j -= 1
            pairs.append((None, j))
    return pairs[::-1]
