from fastapi import APIRouter

from app.api.deps import RegistryDep
from app.schemas import AttentionShape, ModelInfo

router = APIRouter(prefix="/api", tags=["models"])


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
            options=list(s.spec.options),
            default_layer=s.spec.default_layer,
        )
        for s in registry.statuses()
    ]
