"""The lecture panels of /concepts that open up a served text model: the seq2seq bottleneck from the
evaluation report, one Bahdanau decoder step, every score function on one sentence, softmax saturation
and the sqrt(d_k) scale, multi-head concatenation and projection, and the Transformer decoder's masked
self- and cross-attention. Every number comes from the served weights or the committed report.

Dimensions: S source tokens, T generated tokens, Dk key width, H heads, Dh head width, D model width.
"""

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.cache import ResultCache
from app.services.encoding import DECIMALS
from app.services.inference import InferenceService
from models.catalog import RNN_SCORES
from models.contract import InputError, TextModel

if TYPE_CHECKING:
    import torch

BASELINE = "rnn-none-en-es"  # the fixed-context model of the bottleneck panel
BAHDANAU = "rnn-additive-en-es"  # the additive-attention model of the step-by-step panel
DECODER = "transformer-en-es"  # the Transformer whose decoder the masking and cross-attention panels show
SATURATION_CHUNK = 64  # random queries drawn at once by `saturation`
MAX_DECODER_TOKENS = 40  # longest source or output the decoder panels draw (a readable map, not a squashed one)

# Small payloads computed once per (panel, weights digest, input): a bound on the count is enough.
PANELS: ResultCache[dict[str, Any]] = ResultCache(256, size_of=lambda _: 1)


def rounded(values: "torch.Tensor") -> Any:
    """A tensor as nested lists rounded for the wire (or a float for a 0-d tensor)."""
    return values.double().numpy().round(DECIMALS).tolist()


def cached(key: tuple[Any, ...], compute: Any) -> dict[str, Any]:
    """PANELS[key], computed by compute() on a miss."""
    hit = PANELS.get(key)
    if hit is not None:
        return hit
    value: dict[str, Any] = compute()
    PANELS.put(key, value)
    return value


def rnn_variant(model_id: str) -> str | None:
    """'additive' for rnn-additive-en-es (catalog spelling with underscores), None for other ids."""
    if not (model_id.startswith("rnn-") and model_id.endswith("-en-es")):
        return None
    name = model_id[len("rnn-") : -len("-en-es")].replace("-", "_")
    return name if name in RNN_SCORES else None


# ------------------------------------------------------------------ bottleneck (report)


def bottleneck(report_path: Path) -> dict[str, Any]:
    """BLEU by source length of the no-attention baseline and every attention model in the committed
    evaluation report; FileNotFoundError / ValueError when the report is missing or lacks the baseline."""
    report = json.loads(report_path.read_text())
    models = report.get("models", {})
    if BASELINE not in models:
        raise ValueError(f"{report_path.name} has no {BASELINE} row")
    buckets = list(models[BASELINE]["bleu_by_length"])
    rows = []
    for model_id, row in models.items():
        by_length = row.get("bleu_by_length", {})
        if set(by_length) != set(buckets):
            continue
        variant = rnn_variant(model_id)
        rows.append(
            {
                "model": model_id,
                "attention": variant != "none",
                "label": RNN_SCORES[variant].split(":")[0] if variant else model_id,
                "bleu": row["bleu"],
                "bleu_by_length": [by_length[b] for b in buckets],
            }
        )
    return {"report": f"reports/{report_path.name}", "buckets": buckets, "baseline": BASELINE, "models": rows}


# ------------------------------------------------------------------ one Bahdanau decoder step


def bahdanau_step(translator: TextModel, text: str, step: int) -> dict[str, Any]:
    """Decoder step `step` (the last one when the translation is shorter) of rnn-additive-en-es's greedy
    translation of `text`, opened up: the query h_t, the raw scores e_ti = v^T tanh(W h_t + U k_i), the weights
    a_ti = softmax(e_t), the context c_t = sum_i a_ti k_i and the word the step produced. The steps before it
    are replayed with the greedy output, so the numbers are those of the served translation."""
    import torch

    from models.nets.seq2seq_rnn import Seq2SeqRNN
    from models.serve.pieces import source_pieces

    model = getattr(translator, "model", None)
    if not isinstance(model, Seq2SeqRNN) or model.decoder.attention is None:
        raise TypeError("the Bahdanau step needs an RNN translator with attention")
    attention = model.decoder.attention
    ids, source = source_pieces(translator.sp, text, model.config.eos_id)  # type: ignore[attr-defined]
    if len(ids) > MAX_DECODER_TOKENS:
        raise InputError(f"The sentence is {len(ids)} tokens long; this panel shows at most {MAX_DECODER_TOKENS}.")
    src = torch.tensor([ids])  # (1, S)
    with torch.inference_mode():
        out = model.greedy(src)
        generated = [int(i) for i in out.tokens[0] if int(i) != model.config.pad_id]
        if not generated:
            raise InputError("The model produced no token for this sentence; there is no step to show.")
        step = min(step, len(generated) - 1)  # past the end: the last step (the answer says which step it shows)
        keys, mask, summary, cache = model.encode(src)  # (1, S, Dk), (1, S), (1, Dk)
        h, feed = model.decoder.init_state(summary)
        prev = model.config.bos_id
        for t in range(step):
            h, feed, _ = model.decoder.step(model.embed(torch.tensor([prev])), h, feed, keys, mask, summary, cache)
            prev = generated[t]
        query = model.decoder.cell(torch.cat([model.embed(torch.tensor([prev])), feed], dim=-1), h)  # (1, Hd)
        precomputed = cache if cache is not None else attention.precompute(keys)
        scores = attention.score(query[:, None], keys, precomputed)[0, 0]  # (S,)
        context, weights = attention(query, keys, mask, cache=cache)  # (1, Dk), (1, S)
        _, feed_t, _ = model.decoder.step(model.embed(torch.tensor([prev])), h, feed, keys, mask, summary, cache)
        probs = model.project(feed_t).softmax(dim=-1)[0]  # (V,)
    sp = translator.sp  # type: ignore[attr-defined]
    word = generated[step]
    return {
        "model": BAHDANAU,
        "source_tokens": list(source),
        "output_tokens": [sp.id_to_piece(i) for i in generated],
        "output_text": sp.decode([i for i in generated if i != model.config.eos_id]),
        "step": step,
        "previous_token": "<s>" if step == 0 else sp.id_to_piece(generated[step - 1]),
        "produced_token": sp.id_to_piece(word),
        "produced_probability": float(probs[word]),
        "scores": rounded(scores),
        "weights": rounded(weights[0]),
        "context": rounded(context[0]),
        "encoder_states": rounded(keys[0]),
    }


# ------------------------------------------------------------------ every score function on one sentence


def score_functions(inference: InferenceService, text: str) -> dict[str, Any]:
    """The cross-attention map (T, S) of every RNN variant with attention that is available here, each
    with its score formula; unavailable variants are listed with the reason."""
    from app.services.registry import ModelUnavailableError

    variants: list[dict[str, Any]] = []
    for model_id in inference.registry.specs:
        variant = rnn_variant(model_id)
        if variant is None or variant == "none":
            continue
        entry: dict[str, Any] = {"model": model_id, "score": variant, "formula": RNN_SCORES[variant]}
        try:
            out = inference.text(model_id, text)
        except ModelUnavailableError as exc:
            variants.append({**entry, "available": False, "reason": str(exc)})
            continue
        stack = out.stacks[0]
        variants.append(
            {
                **entry,
                "available": True,
                "output_text": out.output_text,
                "row_tokens": list(stack.row_tokens),
                "col_tokens": list(stack.col_tokens),
                "values": rounded(stack.weights[0, 0]),
            }
        )
    if not any(v["available"] for v in variants):
        raise InputError("No RNN variant with attention is available here.")
    return {"text": text, "variants": variants}


# ------------------------------------------------------------------ softmax saturation and sqrt(d_k)


def saturation(dims: list[int], keys: int, trials: int, seed: int) -> dict[str, Any]:
    """Softmax over `keys` scores q . k_i of random q, k ~ N(0, I_d), for each d in `dims`, raw and divided
    by sqrt(d): the mean largest weight, the mean entropy (nats), the score standard deviation, and one
    example row of weights per d. Raw scores have standard deviation sqrt(d), so their softmax saturates
    (one weight near 1) as d grows; scaled scores keep standard deviation 1."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    rows = []
    for d in dims:
        chunks = []
        for start in range(0, trials, SATURATION_CHUNK):  # bounded memory: CHUNK x K x d numbers at a time
            n = min(SATURATION_CHUNK, trials - start)
            q = torch.randn(n, 1, d, generator=generator, dtype=torch.float64)  # (n, 1, d)
            k = torch.randn(n, keys, d, generator=generator, dtype=torch.float64)  # (n, K, d)
            chunks.append((q @ k.transpose(1, 2))[:, 0])  # (n, K)
        raw = torch.cat(chunks)  # (N, K)
        row: dict[str, Any] = {"d": d}
        for name, scores in (("raw", raw), ("scaled", raw / math.sqrt(d))):
            weights = scores.softmax(dim=-1)  # (N, K)
            entropy = -(weights * weights.clamp_min(1e-300).log()).sum(dim=-1)  # (N,)
            row[name] = {
                "max_weight": float(weights.max(dim=-1).values.mean()),
                "entropy": float(entropy.mean()),
                "score_std": float(scores.std()),
                "example": rounded(weights[0]),
            }
        rows.append(row)
    return {"keys": keys, "trials": trials, "seed": seed, "max_entropy": math.log(keys), "dims": rows}


# ------------------------------------------------------------------ multi-head: concatenate, then project


def multihead(bert: TextModel, text: str, layer: int, query: int) -> dict[str, Any]:
    """Inside one MiniLM self-attention layer: every head's map, and for the token at position `query` (the last
    token when the sentence is shorter) each head's weights a_h = softmax(q_h K_h^T / sqrt(Dh)), its values V_h
    and output a_h V_h, the concatenation of the head outputs, and the output projection W_O concat + b_O the
    layer adds to its input."""
    import torch

    from models.nets.multihead import MultiHeadAttention
    from models.serve.bert import BertAttentionModel

    if not isinstance(bert, BertAttentionModel):
        raise TypeError(f"the multi-head panel needs models.serve.bert's adapter, not {type(bert).__name__}")
    encoder = bert.encoder
    if not 0 <= layer < len(encoder.layers):
        raise InputError(f"MiniLM has layers 0 to {len(encoder.layers) - 1}; got layer {layer}.")
    ids, tokens = bert.tokenize(text)
    if len(ids) > MAX_DECODER_TOKENS:
        raise InputError(f"The sentence is {len(ids)} tokens long; this panel shows at most {MAX_DECODER_TOKENS}.")
    query = min(query, len(ids) - 1)  # past the end: the last token, [SEP] (the answer says which it shows)
    mha = encoder.layers[layer].attention
    assert isinstance(mha, MultiHeadAttention)  # models/nets/bert.py builds every layer's attention from it
    captured: list[torch.Tensor] = []

    def keep_input(module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        captured.append(args[0])  # (1, T, D): the layer's input, its queries, keys and values

    handle = mha.register_forward_pre_hook(keep_input)
    try:
        with torch.inference_mode():
            encoder(torch.tensor([ids]))
            x = captured[0]
            k, v = mha.project_keys(x)  # (1, H, T, Dh) each
            _, maps = mha.attend(x, k, v)  # (1, H, T, T): every query of the layer, for the thumbnails
            projected, weights = mha.attend(x[:, query : query + 1], k, v)  # (1, 1, D), (1, H, 1, T)
            heads = (weights @ v)[0, :, 0]  # (H, Dh)
            concat = heads.reshape(-1)  # (D,) = [head 0 | head 1 | ...]
    finally:
        handle.remove()
    return {
        "model": "minilm-l6",
        "tokens": list(tokens),
        "layer": layer,
        "layers": len(encoder.layers),
        "query": query,
        "heads": mha.n_heads,
        "d_head": mha.d_head,
        "maps": rounded(maps[0]),
        "weights": rounded(weights[0, :, 0]),
        "values": rounded(v[0]),
        "head_outputs": rounded(heads),
        "concat": rounded(concat),
        "output": rounded(projected[0, 0]),
    }


# ------------------------------------------------------------------ the Transformer decoder: masking and cross


def decoder_maps(inference: InferenceService, text: str, layer: int) -> dict[str, Any]:
    """transformer-en-es on `text`: decoder layer `layer`'s masked self-attention and cross-attention, each
    per head and as the mean over heads, with the largest weight any head puts on a later step (0 by the mask)."""
    out = inference.text(DECODER, text)
    stacks = {stack.kind: stack for stack in out.stacks}
    masked, cross = stacks["decoder_self"], stacks["cross"]
    layers = masked.weights.shape[0]
    if not 0 <= layer < layers:
        raise InputError(f"{DECODER} has decoder layers 0 to {layers - 1}; got layer {layer}.")
    if max(len(out.input_tokens), len(out.output_tokens or ())) > MAX_DECODER_TOKENS:
        raise InputError(f"Keep it under {MAX_DECODER_TOKENS} tokens so every label stays readable.")
    self_weights = masked.weights[layer]  # (H, T, T)
    T = self_weights.shape[-1]
    ahead = self_weights.triu(diagonal=1) if T > 1 else self_weights * 0  # (H, T, T): what the mask forbids
    return {
        "model": DECODER,
        "layer": layer,
        "layers": layers,
        "source_tokens": list(out.input_tokens),
        "output_text": out.output_text,
        "masked": {
            "row_tokens": list(masked.row_tokens),
            "col_tokens": list(masked.col_tokens),
            "heads": rounded(self_weights),
            "mean": rounded(self_weights.mean(dim=0)),
            "max_ahead": float(ahead.max()),
        },
        "cross": {
            "row_tokens": list(cross.row_tokens),
            "col_tokens": list(cross.col_tokens),
            "heads": rounded(cross.weights[layer]),
            "mean": rounded(cross.weights[layer].mean(dim=0)),
        },
    }
