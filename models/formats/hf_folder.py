"""What a local Hugging Face model folder holds, read from config.json without importing torch or
transformers (the server lists these models at start-up and must start fast)."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Kind = Literal["encoder", "decoder", "encoder-decoder", "vision", "vision-encoder-decoder"]
VISION_TYPES = {"vit", "deit", "beit", "dinov2", "dinov2_with_registers", "data2vec-vision", "vit_msn", "vit_mae"}


@dataclass(frozen=True)
class HFFolderInfo:
    kind: Kind
    model_type: str  # config's model_type, e.g. "bert", "gpt2", "bart"
    layers: int  # encoder layers (decoder layers for decoder-only models)
    heads: int  # heads per layer of the same
    decoder_layers: int  # 0 for encoders
    decoder_heads: int  # 0 for encoders


def _first(config: dict[str, Any], *keys: str) -> int:
    return next((int(config[k]) for k in keys if isinstance(config.get(k), int)), 0)


def inspect_folder(folder: Path) -> HFFolderInfo:
    """Kind, layers and heads of the model in `folder`; ValueError when there is no usable config.json."""
    path = folder / "config.json"
    if not path.is_file():
        raise ValueError(f"{folder} has no config.json: not a Hugging Face model folder")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not readable JSON: {exc}") from None
    model_type = str(config.get("model_type", ""))
    if model_type == "vision-encoder-decoder":
        encoder, decoder = config.get("encoder", {}), config.get("decoder", {})
        return HFFolderInfo(
            kind="vision-encoder-decoder",
            model_type=f"{encoder.get('model_type', '?')}+{decoder.get('model_type', '?')}",
            layers=_first(encoder, "num_hidden_layers", "n_layer", "num_layers"),
            heads=_first(encoder, "num_attention_heads", "n_head", "num_heads"),
            decoder_layers=_first(decoder, "num_hidden_layers", "n_layer", "num_layers", "decoder_layers"),
            decoder_heads=_first(decoder, "num_attention_heads", "n_head", "num_heads", "decoder_attention_heads"),
        )
    if model_type in VISION_TYPES:
        layers = _first(config, "num_hidden_layers")
        heads = _first(config, "num_attention_heads")
        return HFFolderInfo("vision", model_type, layers, heads, 0, 0)
    if config.get("is_encoder_decoder"):
        return HFFolderInfo(
            kind="encoder-decoder",
            model_type=model_type,
            layers=_first(config, "encoder_layers", "num_layers", "num_hidden_layers"),
            heads=_first(config, "encoder_attention_heads", "num_heads", "num_attention_heads"),
            decoder_layers=_first(config, "decoder_layers", "num_decoder_layers", "num_layers"),
            decoder_heads=_first(config, "decoder_attention_heads", "num_heads", "num_attention_heads"),
        )
    layers = _first(config, "num_hidden_layers", "n_layer", "num_layers")
    heads = _first(config, "num_attention_heads", "n_head", "num_heads")
    architectures = " ".join(config.get("architectures") or [])
    if "CausalLM" in architectures or "LMHead" in architectures or config.get("is_decoder") is True:
        return HFFolderInfo("decoder", model_type, layers, heads, layers, heads)
    return HFFolderInfo("encoder", model_type, layers, heads, 0, 0)


def layer_names(per_layer: dict[str, str], num_layers: int) -> dict[str, str]:
    """Our per-layer parameter names -> a Hugging Face encoder's ("encoder.layer.{i}."), weight and bias of each.

    per_layer maps our module name in layer i (e.g. "attention.query") to the Hugging Face one
    (e.g. "attention.self.query"); the result names both parameters of every layer.
    """
    return {
        f"layers.{i}.{ours}.{p}": f"encoder.layer.{i}.{theirs}.{p}"
        for i in range(num_layers)
        for ours, theirs in per_layer.items()
        for p in ("weight", "bias")
    }
