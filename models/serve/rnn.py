"""A trained RNN variant (models/nets/seq2seq_rnn.py) as a servable translation model: text in, the
translation and the attention of every generated step out."""

from pathlib import Path

import torch

from models.contract import AttentionStack, InputError, TextAttentionOutput
from models.nets.seq2seq_rnn import Seq2SeqRNN
from models.serve.pieces import read_with_note, source_pieces

MAX_SOURCE_TOKENS = 200  # longest source accepted (the training filter was 80; longer inputs degrade)
MAX_BEAM = 8

NO_ATTENTION = (
    "This baseline has no attention: the encoder's summary vector is the same context for every "
    "generated word (Cho et al. 2014), so there is no alignment to show. Compare it with an attention variant."
)


class RNNTranslator:
    def __init__(self, model: Seq2SeqRNN, sentencepiece: object) -> None:
        self.model = model.eval()
        self.sp = sentencepiece

    @classmethod
    def from_folder(cls, folder: Path) -> "RNNTranslator":
        import sentencepiece as spm

        return cls(Seq2SeqRNN.from_pretrained(folder), spm.SentencePieceProcessor(model_file=str(folder / "spm.model")))

    def attend(self, text: str, beam: int = 1) -> TextAttentionOutput:
        if not 1 <= beam <= MAX_BEAM:
            raise InputError(f"beam must be between 1 and {MAX_BEAM}, got {beam}.")
        read, casing = read_with_note(self.sp, text)
        ids, source = source_pieces(self.sp, read, self.model.config.eos_id)
        if len(ids) > MAX_SOURCE_TOKENS:
            raise InputError(f"The text is {len(ids)} tokens long; this model reads at most {MAX_SOURCE_TOKENS}.")
        src = torch.tensor([ids])
        with torch.inference_mode():
            out = self.model.greedy(src) if beam == 1 else self.model.beam_search(src, beam_size=beam)
        eos, pad = self.model.config.eos_id, self.model.config.pad_id
        generated = [int(i) for i in out.tokens[0] if int(i) != pad]
        T = len(generated)
        target = tuple(self.sp.id_to_piece(i) for i in generated)  # type: ignore[attr-defined]
        text_out = self.sp.decode([i for i in generated if i != eos])  # type: ignore[attr-defined]
        if out.cross_attentions is None:
            return TextAttentionOutput(
                source, target, text_out, (), note=" ".join(filter(None, [NO_ATTENTION, casing]))
            )
        weights = out.cross_attentions[0, :T].float()[None, None]  # (1, 1, T, S): one layer, one head
        stacks = (AttentionStack("cross", weights, target, source),)
        return TextAttentionOutput(source, target, text_out, stacks, note=casing)


def load_rnn(folder: str) -> RNNTranslator:
    """Catalog loader: models/weights/<rnn-...-en-es>/ (fp16 weights, config, spm.model)."""
    return RNNTranslator.from_folder(Path(folder))
