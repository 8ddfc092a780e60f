"""A statistical aligner's links beside the attention: eflomal with priors from the training mix
(models/serve/reference_alignment.py), for English->Spanish translations at word level."""

import threading
from pathlib import Path
from typing import Any

from app.schemas import REFERENCE_PAIRS, takes_reference
from app.services.cache import ResultCache
from models.catalog import ModelSpec
from models.contract import InputError, TextAttentionOutput
from models.readouts import merge_words, word_groups
from models.serve.reference_alignment import ReferenceAligner, load_reference_aligner

CACHE_ENTRIES = 512  # sentences whose links are kept: eflomal samples, so a repeated request gets the same links


class ReferenceUnavailableError(RuntimeError):
    """The priors file is missing or unreadable; str() says why."""


class ReferenceService:
    """Loads the aligner on first use and keeps the links of recent sentences."""

    def __init__(self, priors_path: Path) -> None:
        self.priors_path = priors_path
        self._aligner: ReferenceAligner | None = None
        self._error: str | None = None
        self._lock = threading.Lock()
        self._cache: ResultCache[list[tuple[int, int]]] = ResultCache(CACHE_ENTRIES, size_of=lambda _: 1)

    def aligner(self) -> ReferenceAligner:
        with self._lock:
            if self._aligner is None and self._error is None:
                try:
                    self._aligner = load_reference_aligner(str(self.priors_path))
                except (OSError, ValueError) as exc:
                    self._error = str(exc).splitlines()[0][:300]
            if self._aligner is None:
                raise ReferenceUnavailableError(f"The reference aligner is not available here: {self._error}")
            return self._aligner

    def links(self, source_words: tuple[str, ...], target_words: tuple[str, ...]) -> list[tuple[int, int]]:
        key = (source_words, target_words)
        found = self._cache.get(key)
        if found is None:
            found = self.aligner().links(source_words, target_words)
            self._cache.put(key, found)
        return found

    def reference(self, spec: ModelSpec, output: TextAttentionOutput) -> dict[str, Any]:
        """The `reference` field of the text response: word lists, links [target word, source word] on the
        word-level axes of the cross-attention maps, and each cross map's agreement with them."""
        if not takes_reference(spec):
            pairs = ", ".join(f"{s}->{t}" for s, t in REFERENCE_PAIRS)
            raise InputError(f"A reference alignment exists only for {pairs} translation models, not '{spec.id}'.")
        if output.output_tokens is None:
            raise InputError("This answer has no translation to align.")
        _, source_words = word_groups(output.input_tokens)
        _, target_words = word_groups(output.output_tokens)
        links = self.links(source_words, target_words)
        agreement = []
        for stack in output.stacks:
            if stack.kind != "cross":
                continue
            words = merge_words(stack)
            if (words.row_tokens, words.col_tokens) != (target_words, source_words):
                continue  # the cross rows are not the output words (not the case for our models)
            argmax = words.weights.argmax(dim=-1)  # (L, H, T')
            n_layers, n_heads = argmax.shape[:2]
            agreement += [
                {
                    "layer": layer,
                    "head": head,
                    "agreement": round(link_agreement(argmax[layer, head].tolist(), links), 4),
                }
                for layer in range(n_layers)
                for head in range(n_heads)
            ]
        return {
            "aligner": "eflomal",
            "source_words": list(source_words),
            "target_words": list(target_words),
            "links": [[t, s] for t, s in links],
            "agreement": agreement,
            "covers": (
                "links: [target word, source word] pairs on the word-level axes (word_level: true) of the "
                "cross-attention maps, from eflomal's forward alignment of this sentence pair with priors counted "
                "on the training mix (at most one source word per target word; special tokens never linked). "
                "agreement: share of linked target words whose attention argmax is a linked source word."
            ),
        }


def link_agreement(argmax: list[int], links: list[tuple[int, int]]) -> float:
    """Share of the target words that have links whose argmax source word is one of them (0 without links)."""
    linked: dict[int, set[int]] = {}
    for t, s in links:
        linked.setdefault(t, set()).add(s)
    if not linked:
        return 0.0
    return sum(argmax[t] in sources for t, sources in linked.items() if t < len(argmax)) / len(linked)
