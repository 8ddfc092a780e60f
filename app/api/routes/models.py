from fastapi import APIRouter

from app.api.deps import RegistryDep
from app.schemas import (
    AUDIO_HEAD_MASK_MODELS,
    IMAGE_ATTRIBUTION_MODELS,
    IMAGE_HEAD_MASK_MODELS,
    TEXT_ABLATION_MODELS,
    TEXT_ATTRIBUTION_MODELS,
    AttentionShape,
    ModelInfo,
)
from app.services.ablation import hf_folder
from models.catalog import ModelSpec

router = APIRouter(prefix="/api", tags=["models"])


def options_of(spec: ModelSpec) -> list[str]:
    """The catalog's options (e.g. beam) plus what the services offer for this model: "ablate" (heads can be
    switched off) and "attribution" (Captum attributions, /api/attribution/*)."""
    extra = []
    if spec.id in (*TEXT_ABLATION_MODELS, *IMAGE_HEAD_MASK_MODELS, *AUDIO_HEAD_MASK_MODELS) or hf_folder(spec):
        extra.append("ablate")
    if spec.id in TEXT_ATTRIBUTION_MODELS or spec.id in IMAGE_ATTRIBUTION_MODELS:
        extra.append("attribution")
    return [*spec.options, *extra]


@router.get("/models", response_model=list[ModelInfo])
def list_models(registry: RegistryDep) -> list[ModelInfo]:
    """Every declared model, with whether it can be used here and why not."""
    return [
        ModelInfo(
            id=s.spec.id,
            task=s.spec.task,
            description=s.spec.description,
            source_lang=s.spec.source_lang,
            target_lang=s.spec.target_lang,
            layers=s.spec.layers,
            heads=s.spec.heads,
            attention_kinds=list(s.spec.attention_kinds),
            attention_shapes=[
                AttentionShape(kind=kind, layers=layers, heads=heads) for kind, layers, heads in s.spec.shapes()
            ],
            available=s.available,
            unavailable_reason=s.reason,
            loaded=s.loaded,
            source=s.spec.source,
            license=s.spec.license,
            notes=s.spec.notes,
            options=options_of(s.spec),
            default_layer=s.spec.default_layer,
            kv_heads=s.spec.kv_heads,
        )
        for s in registry.statuses()
    ]
