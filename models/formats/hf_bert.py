"""Hugging Face BertModel state dicts -> the parameter names of models/nets/bert.py."""

import torch

from models.formats.hf_folder import layer_names


def hf_to_ours(hf_state: dict[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face BertModel state dict to this module's parameter names."""
    state = {k.removeprefix("bert."): v for k, v in hf_state.items()}
    names = {
        "word.weight": "embeddings.word_embeddings.weight",
        "position.weight": "embeddings.position_embeddings.weight",
        "token_type.weight": "embeddings.token_type_embeddings.weight",
        "embed_norm.weight": "embeddings.LayerNorm.weight",
        "embed_norm.bias": "embeddings.LayerNorm.bias",
    }
    per_layer = {
        "attention.query": "attention.self.query",
        "attention.key": "attention.self.key",
        "attention.value": "attention.self.value",
        "attention.out": "attention.output.dense",
        "attention_norm": "attention.output.LayerNorm",
        "ffn_in": "intermediate.dense",
        "ffn_out": "output.dense",
        "ffn_norm": "output.LayerNorm",
    }
    names.update(layer_names(per_layer, num_layers))
    return {ours: state[theirs] for ours, theirs in names.items()}
