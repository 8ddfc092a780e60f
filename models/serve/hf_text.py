"""Any local Hugging Face model folder as an attnviz model: encoders (BERT-like), decoder-only models
(GPT-2-like) and encoder-decoders (Marian/T5/BART-like, greedy generation).

Always loaded with eager attention: SDPA and flash kernels never materialise the softmax weights.
Nothing is downloaded: `local_files_only=True`, and the folder must hold config, weights and tokenizer.
Dimensions: L layers, H heads, S source tokens, T generated tokens.
"""

from pathlib import Path
from typing import Any

import torch

from models.contract import AttentionKind, AttentionStack, InputError, TextAttentionOutput
from models.formats.hf_folder import Kind, inspect_folder
from models.serve import hf_heads

KINDS: dict[str, tuple[str, ...]] = {
    "encoder": ("self",), "decoder": ("decoder_self",), "encoder-decoder": ("encoder_self", "decoder_self", "cross"),
}


def _stack(
    kind: AttentionKind, attentions: tuple[torch.Tensor, ...] | None, rows: tuple[str, ...], cols: tuple[str, ...]
) -> AttentionStack:
    """HF's per-layer (1, H, R, C) tuple -> one AttentionStack (L, H, R, C)."""
    if not attentions or any(a is None for a in attentions):
        raise RuntimeError("the model returned no attention weights: it must run with eager attention")
    return AttentionStack(kind, torch.stack([a[0] for a in attentions]).float(), rows, cols)


class HFAttentionModel:
    """Tokenizer + transformers model; attend(text) returns every map the model has."""

    def __init__(self, model: Any, tokenizer: Any, kind: Kind, max_new_tokens: int = 64) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.kind = kind
        self.max_new_tokens = max_new_tokens
        self.max_positions = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        hf_heads.install(self.model)  # eager attention, with heads that can be switched off (models/serve/hf_heads.py)
        self.attention_modules = hf_heads.attention_modules(self.model, KINDS[kind])

    @classmethod
    def from_folder(cls, folder: Path) -> "HFAttentionModel":
        from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        info = inspect_folder(folder)
        auto = {"encoder": AutoModel, "decoder": AutoModelForCausalLM, "encoder-decoder": AutoModelForSeq2SeqLM}
        model = auto[info.kind].from_pretrained(folder, attn_implementation="eager", local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        return cls(model, tokenizer, info.kind)

    def tokens(self, ids: list[int]) -> tuple[str, ...]:
        return tuple(str(t) for t in self.tokenizer.convert_ids_to_tokens(ids))

    def attend(self, text: str, head_mask: dict[str, torch.Tensor] | None = None) -> TextAttentionOutput:
        """Every map for `text`; head_mask (kind -> (L, H), 0 = off) switches heads off for the whole run
        (generation included), each head's output zeroed before the output projection."""
        with hf_heads.heads_off(self.attention_modules, head_mask):
            return self._attend(text)

    def _attend(self, text: str) -> TextAttentionOutput:
        input_ids = self.tokenizer(text, return_tensors="pt")["input_ids"]
        if self.max_positions and input_ids.shape[1] > self.max_positions:
            raise InputError(
                f"The text is {input_ids.shape[1]} tokens long; this model reads at most {self.max_positions}."
            )
        source = self.tokens(input_ids[0].tolist())
        with torch.inference_mode():
            if self.kind == "encoder":
                out = self.model(input_ids=input_ids, output_attentions=True)
                return TextAttentionOutput(source, None, None, (_stack("self", out.attentions, source, source),))
            if self.kind == "decoder":
                out = self.model(input_ids=input_ids, output_attentions=True)
                stack = _stack("decoder_self", out.attentions, source, source)
                return TextAttentionOutput(source, None, None, (stack,))
            return self._generate(input_ids, source)

    def _generate(self, input_ids: torch.Tensor, source: tuple[str, ...]) -> TextAttentionOutput:
        """Greedy generation, then one teacher-forced pass over the result for every map at once.

        With causal masking the teacher-forced weights equal those of the step-by-step decoding;
        row t of the decoder maps is the step that produced generated token t.
        """
        generated = self.model.generate(
            input_ids=input_ids, max_new_tokens=self.max_new_tokens, num_beams=1, do_sample=False
        )[0]  # (1 + T,): the start token, then the generated ids
        decoder_input = generated[:-1][None]  # (1, T): what the decoder saw at each step
        out = self.model(input_ids=input_ids, decoder_input_ids=decoder_input, output_attentions=True)
        target = self.tokens(generated[1:].tolist())
        steps = self.tokens(decoder_input[0].tolist())  # keys of decoder self-attention
        text = self.tokenizer.decode(generated[1:], skip_special_tokens=True)
        return TextAttentionOutput(
            input_tokens=source,
            output_tokens=target,
            output_text=text,
            stacks=(
                _stack("encoder_self", out.encoder_attentions, source, source),
                _stack("decoder_self", out.decoder_attentions, target, steps),
                _stack("cross", out.cross_attentions, target, source),
            ),
        )


def load_hf_folder(folder: str) -> HFAttentionModel:
    """Catalog loader for a model registered with --hf-model NAME=PATH."""
    return HFAttentionModel.from_folder(Path(folder))
