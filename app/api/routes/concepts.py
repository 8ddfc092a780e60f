"""Live demonstrations behind the "How attention works" page."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import InferenceDep
from app.schemas import (
    ErrorResponse,
    PermutationRequest,
    PermutationResponse,
    PositionalEncodingResponse,
    WarmupResponse,
)
from app.services import concepts
from app.services.inference import flush_denormals

router = APIRouter(prefix="/api/concepts", tags=["concepts"])

PERMUTATION_MODEL = "minilm-l6"
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Body is not valid UTF-8 JSON."},
    413: {"model": ErrorResponse, "description": "Request body too large."},
    422: {"model": ErrorResponse, "description": "Invalid input."},
    503: {"model": ErrorResponse, "description": "MiniLM cannot be loaded here."},
}


@router.post("/permutation", response_model=PermutationResponse, responses=ERRORS)
def permutation(request: PermutationRequest, inference: InferenceDep) -> dict[str, Any]:
    """MiniLM self-attention of a sentence and of its shuffled tokens, with or without positions."""
    model = inference.registry.text_model(PERMUTATION_MODEL)  # unavailable -> 503, bad input -> 422 (app.core.errors)
    with inference.slot():
        flush_denormals()
        return concepts.permutation_demo(model, request.text, request.use_positions, request.seed)


@router.get("/positional-encoding", response_model=PositionalEncodingResponse, responses=ERRORS)
def positional_encoding(
    length: Annotated[int, Query(ge=1, le=512, description="Positions (rows).")] = 64,
    d_model: Annotated[int, Query(ge=2, le=1024, multiple_of=2, description="Model width (columns), even.")] = 128,
) -> dict[str, Any]:
    """The sinusoidal positional-encoding table the Transformer adds to its embeddings."""
    return {"length": length, "d_model": d_model, "values": concepts.positional_encoding(length, d_model)}


@router.get("/warmup", response_model=WarmupResponse, responses=ERRORS)
def warmup(
    d_model: Annotated[int, Query(ge=1, le=8192, description="Model width.")] = 256,
    warmup: Annotated[int, Query(ge=1, le=1_000_000, description="Warm-up steps.")] = 4000,
    steps: Annotated[int, Query(ge=2, le=10_000_000, description="Last step drawn.")] = 20000,
) -> dict[str, Any]:
    """The warm-up learning-rate schedule of Vaswani et al. (2017), sampled at 400 steps."""
    return {"d_model": d_model, "warmup": warmup, **concepts.warmup_schedule(d_model, warmup, steps)}
