"""transformer-en-es (models/nets/transformer.py) as a servable model: greedy translation, then one
teacher-forced pass for encoder self-, masked decoder self- and cross-attention of every step."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from models.contract import AttentionStack, InputError, TextAttentionOutput
from models.nets.transformer import Transformer
from models.serve.pieces import read_with_note, source_pieces

MAX_SOURCE_TOKENS = 200


class TransformerTranslator:
    def __init__(self, model: Transformer, sentencepiece: Any) -> None:
        self.model = model.eval()
        self.sp = sentencepiece

    @classmethod
    def from_folder(cls, folder: Path) -> "TransformerTranslator":
        import sentencepiece as spm

        sentencepiece = spm.SentencePieceProcessor(model_file=str(folder / "spm.model"))
        return cls(Transformer.from_pretrained(folder), sentencepiece)

    def source(self, text: str) -> tuple[list[int], tuple[str, ...]]:
        """Source ids (EOS appended) and pieces; InputError when too long."""
        ids, source = source_pieces(self.sp, text, self.model.config.eos_id)
        if len(ids) > MAX_SOURCE_TOKENS:
            raise InputError(f"The text is {len(ids)} tokens long; this model reads at most {MAX_SOURCE_TOKENS}.")
        return ids, source

    def attend(self, text: str, head_mask: Mapping[str, torch.Tensor] | None = None) -> TextAttentionOutput:
        """head_mask: kind ("encoder_self", "decoder_self", "cross") -> (L, H), 0 = head ablated; None: every head."""
        config = self.model.config
        read, casing = read_with_note(self.sp, text)
        ids, source = self.source(read)  # read again: already cased, so the same text
        src = torch.tensor([ids])
        with torch.inference_mode():
            generated = [
                int(i) for i in self.model.greedy(src, head_masks=head_mask).tokens[0] if int(i) != config.pad_id
            ]
            tgt_in = torch.tensor([[config.bos_id, *generated[:-1]]])  # what the decoder saw at each step
            out = self.model(src, tgt_in, head_mask)
        target = tuple(self.sp.id_to_piece(i) for i in generated)
        steps = ("<s>", *target[:-1])
        text_out = self.sp.decode([i for i in generated if i != config.eos_id])
        return TextAttentionOutput(
            input_tokens=source,
            output_tokens=target,
            output_text=text_out,
            stacks=(
                AttentionStack("encoder_self", out.encoder_attentions[0], source, source),
                AttentionStack("decoder_self", out.decoder_attentions[0], target, steps),
                AttentionStack("cross", out.cross_attentions[0], target, source),
            ),
            note=casing,
        )


def load_transformer(folder: str) -> TransformerTranslator:
    """Catalog loader: models/weights/transformer-en-es/."""
    return TransformerTranslator.from_folder(Path(folder))
