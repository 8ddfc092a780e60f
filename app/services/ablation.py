"""Head ablation: the `ablate` field (a list of [layer, head] or [kind, layer, head]) turned into head masks,
and the text and image models' attention answers with those heads switched off (each head's output zeroed
before the output projection), cached like the unablated answers. An empty list is exactly the unablated run.
"""

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from app.schemas import (
    ABLATE_FORM,
    AUDIO_HEAD_MASK_MODELS,
    IMAGE_HEAD_MASK_MODELS,
    JSON_WHITE_SPACE,
    MAX_ABLATED,
    TEXT_ABLATION_MODELS,
    AblatedHead,
)
from app.services.inference import InferenceService, WrongTaskError
from models.catalog import ModelSpec
from models.contract import AudioAttentionOutput, ImageAttentionOutput, InputError, TextAttentionOutput

if TYPE_CHECKING:  # torch loads with the first request that needs it
    import torch

ABLATION_MODELS = ", ".join(TEXT_ABLATION_MODELS)


def head_masks(spec: ModelSpec, ablate: Sequence[AblatedHead]) -> dict[str, "torch.Tensor"] | None:
    """kind -> (L, H) with 0 at every ablated head; None when nothing is ablated (the unablated run, exactly).

    InputError for a kind the model lacks or a layer/head out of range.
    """
    if not ablate:
        return None
    import torch

    shapes = {kind: (layers, heads) for kind, layers, heads in spec.shapes()}
    if not shapes:
        raise InputError(f"Model '{spec.id}' has no attention heads to switch off.")
    first = next(iter(shapes))
    masks: dict[str, torch.Tensor] = {}
    for item in ablate:
        kind, layer, head = (first, *item) if len(item) == 2 else item
        if kind not in shapes:
            raise InputError(f"Model '{spec.id}' has no {kind} attention; it has: {', '.join(shapes)}.")
        L, H = shapes[kind]
        if not (0 <= int(layer) < L and 0 <= int(head) < H):
            raise InputError(
                f"Head [{kind}, {layer}, {head}] does not exist; {kind} has layers 0-{L - 1} and heads 0-{H - 1}."
            )
        masks.setdefault(str(kind), torch.ones(L, H))[int(layer), int(head)] = 0.0
    return masks


ABLATE_LIST: TypeAdapter[list[AblatedHead]] = TypeAdapter(list[AblatedHead])


def parse_ablate(raw: str | None) -> list[AblatedHead]:
    """A form field '[[0, 1], ["cross", 2, 3]]' -> the list; blank -> []; InputError (422) for anything else.

    The field's schema pattern (app.schemas.ablate_pattern) is the grammar: at most MAX_ABLATED heads of
    natural numbers and kind names, JSON white space between them."""
    if raw is None or not raw.strip(JSON_WHITE_SPACE):
        return []
    if not ABLATE_FORM.fullmatch(raw):
        raise InputError(
            f"ablate must be a JSON list of at most {MAX_ABLATED} heads such as [[0, 1], [2, 3]]; got {raw[:80]!r}."
        )
    return ABLATE_LIST.validate_python(json.loads(raw))


def ablated_image(
    inference: InferenceService, model_id: str, data: bytes, ablate: Sequence[AblatedHead]
) -> ImageAttentionOutput:
    """An image model's attention answer with the listed heads switched off (DINOv2: self-attention heads;
    captioner-transformer: cross-attention heads, kind "spatial")."""
    import hashlib

    from models.serve.captioner import CaptionerAttentionModel
    from models.serve.dinov2 import Dinov2AttentionModel

    spec = inference.registry.spec(model_id)
    masks = head_masks(spec, ablate)
    if masks is None:
        return inference.image(model_id, data)
    usable = ", ".join(IMAGE_HEAD_MASK_MODELS)
    if spec.task not in ("vision", "captioning"):
        raise WrongTaskError(f"Model '{model_id}' is a {spec.task} model; it does not take images.")
    served = model_id in IMAGE_HEAD_MASK_MODELS or hf_folder(spec)
    model = inference.registry.image_model(model_id) if served else None
    if hf_folder(spec):
        from models.serve.hf_vision import HFVisionModel

        if not isinstance(model, HFVisionModel):
            raise WrongTaskError(f"Head ablation is not available for '{model_id}'.")
    elif not isinstance(model, Dinov2AttentionModel | CaptionerAttentionModel):
        raise WrongTaskError(f"Head ablation is not available for '{model_id}'; use {usable} or a Hugging Face folder.")

    def run() -> ImageAttentionOutput:
        if isinstance(model, Dinov2AttentionModel) or not isinstance(model, CaptionerAttentionModel):
            return model.attend(data, masks)  # DINOv2, or a Hugging Face folder (its own kinds)
        return model.attend(data, head_mask={"cross": masks["spatial"]})  # a captioner's cross-attention

    digest = hashlib.sha256(data).hexdigest()
    key = (
        model_id,
        inference.registry.digest(model_id),
        "ablated-image",
        digest,
        tuple(map(tuple, ablated_list(masks))),
    )
    return inference._cached_run(key, ImageAttentionOutput, run)


def ablated_audio(
    inference: InferenceService, model_id: str, data: bytes, ablate: Sequence[AblatedHead]
) -> AudioAttentionOutput:
    """A speech model's answer (transcript, maps, word timings) with the listed heads switched off: [layer, head]
    is an encoder self-attention head, [kind, layer, head] any of encoder_self, decoder_self, cross."""
    import hashlib

    from models.serve.whisper import WhisperTranscriber

    spec = inference.registry.spec(model_id)
    masks = head_masks(spec, ablate)
    if masks is None:
        return inference.audio(model_id, data)
    model = inference.registry.audio_model(model_id) if model_id in AUDIO_HEAD_MASK_MODELS else None
    if not isinstance(model, WhisperTranscriber):
        raise WrongTaskError(f"Head ablation over audio is available for {', '.join(AUDIO_HEAD_MASK_MODELS)} only.")
    digest = hashlib.sha256(data).hexdigest()
    off = tuple(map(tuple, ablated_list(masks)))
    key = (model_id, inference.registry.digest(model_id), "ablated-audio", digest, off)
    return inference._cached_run(key, AudioAttentionOutput, lambda: model.attend(data, masks))


def ablated_list(masks: Mapping[str, "torch.Tensor"] | None) -> list[list[Any]]:
    """[[kind, layer, head], ...] of every 0 in the masks."""
    return [[kind, *map(int, index)] for kind, mask in (masks or {}).items() for index in (mask == 0).nonzero()]


def ablatable(inference: InferenceService, model_id: str) -> Any:
    """The loaded text model when its adapter takes head masks; WrongTaskError (422) otherwise."""
    from models.serve.bert import BertAttentionModel
    from models.serve.marian import MarianTranslator
    from models.serve.smollm2 import SmolLM2
    from models.serve.transformer import TransformerTranslator

    spec = inference.registry.spec(model_id)
    model = inference.registry.text_model(model_id) if spec.id in TEXT_ABLATION_MODELS or hf_folder(spec) else None
    if hf_folder(spec):
        from models.serve.hf_text import HFAttentionModel

        if isinstance(model, HFAttentionModel):
            return model
    if not isinstance(model, BertAttentionModel | MarianTranslator | TransformerTranslator | SmolLM2):
        raise WrongTaskError(
            f"Head ablation is not available for '{model_id}'; use {ABLATION_MODELS} or a Hugging Face folder."
        )
    return model


def hf_folder(spec: ModelSpec) -> bool:
    """A Hugging Face folder registered at start-up (--hf-model): its heads go off through models/serve/hf_heads."""
    return spec.loader.module in ("models.serve.hf_text", "models.serve.hf_vision")


def ablated_text(
    inference: InferenceService,
    model_id: str,
    text: str,
    ablate: Sequence[AblatedHead],
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
) -> TextAttentionOutput:
    """The model's attention answer with the listed heads switched off (cached like the unablated one).
    layers / heads: the maps to compute, for a model that computes them on request (SmolLM2); the others
    compute every map and the answer keeps those asked for."""
    from models.serve.smollm2 import SmolLM2

    spec = inference.registry.spec(model_id)
    masks = head_masks(spec, ablate)
    if masks is None:
        return inference.text(model_id, text, {}, layers, heads)
    model = ablatable(inference, model_id)
    on_request = isinstance(model, SmolLM2)
    chosen = tuple(tuple(sorted(set(v or ()))) for v in (layers, heads)) if on_request else None  # () = all
    off = tuple(map(tuple, ablated_list(masks)))
    key = (model_id, inference.registry.digest(model_id), "ablated", text, off, chosen)

    def run() -> TextAttentionOutput:
        if on_request:
            return model.attend(text, layers or None, heads or None, head_mask=masks)
        return model.attend(text, masks)

    return inference._cached_run(key, TextAttentionOutput, run)
