"""Attributions beside attention (Transformers, RNN translators, captioners) and head ablation: request fields in,
JSON body out. The work is done by models/explain; this module checks the request against the model,
runs it in an inference slot and shapes the answer like the attention maps (app/services/encoding.py).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from app.schemas import (
    IMAGE_ATTRIBUTION_MODELS,
    TEXT_ATTRIBUTION_MODELS,
    AblatedHead,
    AttentionReadout,
    AttributionMethod,
    TextAttributionRequest,
)
from app.services.ablation import ablatable, ablated_list, head_masks
from app.services.encoding import DECIMALS, encode_maps
from app.services.inference import InferenceService, WrongTaskError, flush_denormals
from models.catalog import ModelSpec
from models.contract import ImageAttentionOutput, InputError, TextAttentionOutput

if TYPE_CHECKING:  # torch and the explain package load with the first request that needs them
    import torch

    from models.explain.families import Explainable

MAX_INPUT_TOKENS = 64  # longest text an attribution or head ranking runs on (cost grows with it)
MAX_INPUT_POSITIONS = 1024  # most input positions (tokens, image cells) of one attribution
MAX_WORK = 4096  # rows x integrated-gradients steps per request (each step is a forward and a backward)
# rows x steps x (input positions + output rows): a forward's cost grows with both lengths. A fuzzed request within
# MAX_WORK (every row of a long garbage text through transformer-en-es) took 49 s on the 2-core CI machine.
MAX_POSITION_WORK = 4096 * 64
ATTRIBUTION_MODELS = ", ".join(TEXT_ATTRIBUTION_MODELS)


def _attributable(inference: InferenceService, model_id: str) -> Any:
    """The loaded text model when models/explain has an adapter for it; WrongTaskError (422) otherwise."""
    from models.serve.bert import BertAttentionModel
    from models.serve.marian import MarianTranslator
    from models.serve.rnn import RNNTranslator
    from models.serve.transformer import TransformerTranslator

    spec = inference.registry.spec(model_id)
    model = inference.registry.text_model(model_id) if spec.id in TEXT_ATTRIBUTION_MODELS else None
    if not isinstance(model, BertAttentionModel | MarianTranslator | TransformerTranslator | RNNTranslator):
        raise WrongTaskError(f"Attributions are not available for '{model_id}' yet; use {ATTRIBUTION_MODELS}.")
    return model


def _explainable(
    inference: InferenceService, model_id: str, text: str, compare_with: str | None, masks: Any
) -> "Explainable":
    from models.explain.families import explain_bert, explain_marian, explain_rnn, explain_transformer
    from models.serve.marian import MarianTranslator
    from models.serve.rnn import RNNTranslator
    from models.serve.transformer import TransformerTranslator

    model = _attributable(inference, model_id)
    if compare_with is not None and isinstance(model, MarianTranslator | TransformerTranslator | RNNTranslator):
        raise InputError("compare_with is for sentence encoders; a translation model explains its own translation.")
    if isinstance(model, MarianTranslator):
        explainable = explain_marian(model, text, masks)
    elif isinstance(model, TransformerTranslator):
        explainable = explain_transformer(model, text, masks)
    elif isinstance(model, RNNTranslator):
        if masks:
            raise InputError(f"'{model_id}' has a single attention, so there is no head to switch off.")
        explainable = explain_rnn(model, text)
    else:
        explainable = explain_bert(model, text, compare_with, masks)
    if explainable.x.shape[1] > MAX_INPUT_TOKENS:
        raise InputError(
            f"The text is {explainable.x.shape[1]} tokens long; attributions run on at most {MAX_INPUT_TOKENS}."
        )
    return explainable


def _readout_name(readout: AttentionReadout) -> str:
    """E.g. "head 1.3", "mean of layer 1", "rollout"."""
    if readout.kind == "rollout":
        return "rollout"
    return f"head {readout.layer}.{readout.head}" if readout.kind == "head" else f"mean of layer {readout.layer}"


@dataclass(frozen=True)
class Explained:
    """One attribution request's figures: rows explained, attributions and readout (R, S), agreement per row."""

    explainable: "Explainable"
    rows: list[int]
    values: "torch.Tensor"
    attention: "torch.Tensor"
    agreement: list[dict[str, Any]]
    readout_name: str
    deletion: dict[str, Any] | None = None


def explain(
    inference: InferenceService,
    spec: ModelSpec,
    build: Callable[[], "Explainable"],
    method: AttributionMethod,
    steps: int,
    target: int | None,
    readout: AttentionReadout | None,
    top_k: int,
    deletion: bool = False,
    retry_steps: int | None = None,
) -> Explained:
    """Build the Explainable, run Captum on the chosen rows, and compare each row with the attention readout;
    with `deletion` and a target, also that row's deletion curves (attention, this method, random orders).
    retry_steps: integrated gradients' rows that miss completeness at `steps` are computed again with this many
    (what the Explain views do), and each row says which steps its values come from and what the first try gave."""
    from models.explain.agreement import agreement
    from models.explain.attribute import attribute, completeness_holds, rule_of
    from models.explain.readout import Readout

    with inference.slot():
        flush_denormals()
        explainable = build()
        if explainable.x.shape[1] > MAX_INPUT_POSITIONS:
            raise InputError(
                f"The input has {explainable.x.shape[1]} positions; attributions run on at most {MAX_INPUT_POSITIONS}."
            )
        n_rows = len(explainable.row_tokens)
        if n_rows == 0:
            raise InputError("The model generated nothing for this input, so there is no output to explain.")
        if target is not None and target >= n_rows:
            raise InputError(f"Target {target} does not exist; the output has rows 0-{n_rows - 1}.")
        rows = [target] if target is not None else list(range(n_rows))
        retry = retry_steps if method == "integrated_gradients" else None
        work = steps + (retry or 0) if method == "integrated_gradients" else 1  # at most: every row tried twice
        if len(rows) * work > MAX_WORK:
            raise InputError(
                f"{len(rows)} rows x {work} steps is too much work for one request (limit {MAX_WORK}); "
                "choose a `target` row or fewer steps."
            )
        positions = explainable.x.shape[1] + n_rows
        if len(rows) * work * positions > MAX_POSITION_WORK:
            raise InputError(
                f"{len(rows)} rows x {work} steps over {positions} input and output tokens is too much work for one "
                f"request (limit {MAX_POSITION_WORK} in all); choose a `target` row, fewer steps or a shorter text."
            )
        if readout is None or (readout.kind != "rollout" and readout.layer is None):  # the last layer by default
            readout = AttentionReadout(kind=readout.kind if readout else "mean", layer=_last_layer(spec),
                                       head=readout.head if readout else None)  # fmt: skip
        attention = explainable.readout(Readout(readout.kind, readout.layer, readout.head))[rows]  # (R, S)
        rule = rule_of(spec.id)  # integrated gradients' pieces of the path, chosen per model on dev rows
        result = attribute(
            explainable.score,
            explainable.x,
            method,
            rows,
            steps if method == "integrated_gradients" else 1,
            explainable.baseline,
            segments=rule.segments,
            cut=rule.cut,
        )
        first_try: dict[int, dict[str, Any]] = {}  # row index -> the first try's steps and delta, when retried
        if retry:
            missed = [i for i, ok in enumerate(completeness_holds(result).tolist()) if not ok]
            if missed:
                again = attribute(explainable.score, explainable.x, method, [rows[i] for i in missed], retry,
                                  explainable.baseline, segments=rule.segments, cut=rule.cut)  # fmt: skip
                assert result.delta is not None and again.delta is not None
                values, delta = result.values.clone(), result.delta.clone()
                for j, i in enumerate(missed):
                    first_try[i] = {"steps": steps, "delta": float(result.delta[i])}
                    values[i], delta[i] = again.values[j], again.delta[j]
                result = replace(result, values=values, delta=delta)
        curves = None
        if deletion and target is not None:
            curves = _deletion(explainable, target, attention[0].double().numpy(), result.values[0].double().numpy(),
                               f"attention ({_readout_name(readout)})", method)  # fmt: skip
    values = result.values.double()  # (R, S)
    complete = completeness_holds(result).tolist() if result.delta is not None else [None] * len(rows)
    deltas = result.delta.tolist() if result.delta is not None else [None] * len(rows)
    agreements = []
    for i, row in enumerate(rows):
        a = agreement(attention[i].numpy(), values[i].numpy(), top_k)
        agreements.append(
            {
                "row": row,
                "token": explainable.row_tokens[row],
                "spearman": a.spearman,
                "kendall": a.kendall,
                "top_k": a.top_k,
                "top_k_overlap": a.top_k_overlap,
                "change": round(float(result.change[i]), DECIMALS),
                "delta": deltas[i],
                "complete": complete[i],
                "steps": None if result.delta is None else retry if i in first_try else steps,
                "first_try": first_try.get(i),
            }
        )
    return Explained(explainable, rows, values, attention.double(), agreements, _readout_name(readout), curves)


DELETION_POINTS = 11  # fractions 0, 0.1, ..., 1 of the inputs removed, like reports/faithfulness


def _deletion(
    explainable: "Explainable", row: int, attention: Any, values: Any, readout: str, method: str
) -> dict[str, Any]:
    """One row's ERASER curves, the inputs removed (set to the baseline) in three orders: the attention row,
    this method's |attribution|, and a seeded random order."""
    import numpy as np

    from models.explain.deletion import deletion_curves

    S = explainable.x.shape[1]
    orders = [(readout, attention), (method, np.abs(values)), ("random", np.random.default_rng(0).random(S))]
    curves = deletion_curves(explainable.score_rows([row]), explainable.x, [(0, imp) for _, imp in orders],
                             explainable.baseline, DELETION_POINTS)  # fmt: skip
    return {
        "row": row,
        "fractions": [round(float(f), 4) for f in curves[0].fractions],
        "orders": [
            {
                "order": name,
                "comprehensiveness": [round(float(v), DECIMALS) for v in c.comprehensiveness],
                "comprehensiveness_auc": round(c.comprehensiveness_auc, DECIMALS),
                "sufficiency": [round(float(v), DECIMALS) for v in c.sufficiency],
                "sufficiency_auc": round(c.sufficiency_auc, DECIMALS),
            }
            for (name, _), c in zip(orders, curves, strict=True)
        ],
    }


def attribution_body(inference: InferenceService, request: TextAttributionRequest) -> dict[str, Any]:
    """The body of POST /api/attribution/text (app.schemas.TextAttributionResponse)."""
    import torch

    spec = inference.registry.spec(request.model)
    masks = head_masks(spec, request.ablate)
    if spec.task not in ("encoder", "translation"):
        raise WrongTaskError(f"Model '{request.model}' does not take text; use POST /api/attribution/image.")
    explained = explain(
        inference,
        spec,
        lambda: _explainable(inference, request.model, request.text, request.compare_with, masks),
        request.method,
        request.steps,
        request.target,
        request.readout,
        request.top_k,
        request.deletion,
        request.retry_steps,
    )
    explainable, rows = explained.explainable, explained.rows
    output = explainable.output
    assert isinstance(output, TextAttentionOutput)
    row_tokens = [explainable.row_tokens[r] for r in rows]
    col_tokens = list(explainable.col_tokens)
    encoded = encode_maps(torch.stack([explained.values, explained.attention]), request.encoding)
    names = (request.method, explained.readout_name)
    return {
        "model": request.model,
        "target": explainable.target,
        "method": request.method,
        "steps": request.steps if request.method == "integrated_gradients" else None,
        "input_tokens": list(output.input_tokens),
        "output_tokens": None if output.output_tokens is None else list(output.output_tokens),
        "output_text": output.output_text,
        "ablated": ablated_list(masks),
        "baseline": explainable.baseline_text,
        "maps": [
            {
                "kind": kind,
                "method": name,
                "shape": [len(rows), len(col_tokens)],
                "rows": rows,
                "row_tokens": row_tokens,
                "col_tokens": col_tokens,
                **fields,
            }
            for kind, name, fields in zip(("attribution", "attention"), names, encoded, strict=True)
        ],
        "agreement": explained.agreement,
        "deletion": explained.deletion,
    }


def image_attribution_body(
    inference: InferenceService,
    model_id: str,
    data: bytes,
    method: AttributionMethod,
    steps: int,
    target: int | None,
    readout: AttentionReadout | None,
    top_k: int,
    ablate: Sequence[AblatedHead],
    deletion: bool = False,
    retry_steps: int | None = None,
) -> dict[str, Any]:
    """The body of POST /api/attribution/image (app.schemas.ImageAttributionResponse): one (h, w) map per
    explained caption word for the attributions and for the readout."""
    from models.explain.families import explain_captioner
    from models.serve.captioner import CaptionerAttentionModel

    spec = inference.registry.spec(model_id)
    if spec.task != "captioning":
        raise WrongTaskError(f"Attributions on images are available for captioners only; '{model_id}' is not one.")
    masks = head_masks(spec, ablate)
    usable = ", ".join(IMAGE_ATTRIBUTION_MODELS)
    model = inference.registry.image_model(model_id) if model_id in IMAGE_ATTRIBUTION_MODELS else None
    if not isinstance(model, CaptionerAttentionModel):
        raise WrongTaskError(f"Attributions are not available for '{model_id}'; use {usable}.")
    explained = explain(
        inference, spec, lambda: explain_captioner(model, data, masks), method, steps, target, readout, top_k, deletion,
        retry_steps,
    )  # fmt: skip
    output = explained.explainable.output
    assert isinstance(output, ImageAttentionOutput)
    h, w = output.grid
    maps = []
    for kind, name, matrix in (
        ("attribution", method, explained.values),
        ("attention", explained.readout_name, explained.attention),
    ):
        for i, row in enumerate(explained.rows):
            values = matrix[i].reshape(h, w).numpy().round(DECIMALS)
            maps.append({"kind": kind, "method": name, "step": row, "shape": [h, w], "values": values.tolist()})
    return {
        "model": model_id,
        "target": explained.explainable.target,
        "method": method,
        "steps": steps if method == "integrated_gradients" else None,
        "caption": output.caption,
        "output_tokens": list(output.tokens or ()),
        "grid": [h, w],
        "ablated": ablated_list(masks),
        "baseline": explained.explainable.baseline_text,
        "maps": maps,
        "agreement": explained.agreement,
        "deletion": explained.deletion,
    }


def _last_layer(spec: ModelSpec) -> int:
    """The last layer of the kind attributions are compared with (cross-attention for translators)."""
    shapes = {kind: layers for kind, layers, _ in spec.shapes()}
    return shapes.get("cross", spec.layers) - 1


def head_ranking_body(
    inference: InferenceService, model_id: str, text: str, compare_with: str | None, top: int
) -> dict[str, Any]:
    """The body of POST /api/attribution/heads (app.schemas.HeadRankingResponse)."""
    from models.explain.heads import rank_heads

    ablatable(inference, model_id)  # 422 for a model without heads to switch off
    with inference.slot():
        flush_denormals()
        explainable = _explainable(inference, model_id, text, compare_with, None)
        effects = rank_heads(explainable)
    return {
        "model": model_id,
        "target": explainable.target,
        "output_text": getattr(explainable.output, "output_text", None),
        "heads_tested": len(effects),
        "heads": [
            {"kind": e.kind, "layer": e.layer, "head": e.head, "change": round(e.change, DECIMALS)}
            for e in effects[:top]
        ],
    }
