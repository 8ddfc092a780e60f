"""The lecture panels of /concepts: one cheap, cached request per panel, computed from the served models."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from app.api.deps import InferenceDep
from app.api.routes.concepts_schemas import (
    BahdanauRequest,
    BahdanauResponse,
    BottleneckResponse,
    CaptioningResponse,
    DecoderRequest,
    DecoderResponse,
    LectureText,
    MultiheadRequest,
    MultiheadResponse,
    SaturationResponse,
    ScoreFunctionsResponse,
    VitResponse,
)
from app.api.routes.samples import SAMPLES, sample_jpeg
from app.core.config import REPO_ROOT
from app.schemas import ErrorResponse
from app.services import concepts_lecture as lecture
from app.services import concepts_vision as vision
from app.services.inference import InferenceService, flush_denormals

router = APIRouter(prefix="/api/concepts", tags=["concepts"])

REPORT = REPO_ROOT / "reports" / "translation_eval.json"
SATURATION_DIMS = [1, 4, 16, 64, 256, 1024]  # widths d of the saturation panel
Responses = dict[int | str, dict[str, Any]]
BAD_BODY: Responses = {
    400: {"model": ErrorResponse, "description": "Body is not valid UTF-8 JSON."},
    413: {"model": ErrorResponse, "description": "Request body too large."},
}
INVALID: Responses = {
    422: {"model": ErrorResponse, "description": "Invalid input, e.g. a step past the translation's end."}
}
NOT_FOUND: Responses = {404: {"model": ErrorResponse, "description": "No such sample photo here."}}
UNAVAILABLE: Responses = {
    503: {"model": ErrorResponse, "description": "The model cannot be loaded here, or the server is busy."}
}


def digest(inference: InferenceService, model_id: str) -> str:
    """The model's weights digest (loads it): a cache key that changes when its weights are replaced."""
    return inference.registry.digest(model_id)


@router.get("/bottleneck", response_model=BottleneckResponse, responses=UNAVAILABLE)
def bottleneck() -> dict[str, Any]:
    """BLEU by source length of the no-attention baseline and the attention models, from the committed report."""
    try:
        stamp = REPORT.stat().st_mtime_ns
        return lecture.cached(("bottleneck", stamp), lambda: lecture.bottleneck(REPORT))
    except (OSError, ValueError, KeyError) as exc:
        raise HTTPException(503, detail=f"The evaluation report cannot be read here ({type(exc).__name__}).") from None


@router.post("/bahdanau", response_model=BahdanauResponse, responses={**BAD_BODY, **INVALID, **UNAVAILABLE})
def bahdanau(request: BahdanauRequest, inference: InferenceDep) -> dict[str, Any]:
    """One decoder step of rnn-additive-en-es: scores e_ti, weights a_ti, context c_t and the word produced."""
    model = inference.registry.text_model(lecture.BAHDANAU)
    key = ("bahdanau", digest(inference, lecture.BAHDANAU), request.text, request.step)

    def compute() -> dict[str, Any]:
        with inference.slot():
            flush_denormals()
            return lecture.bahdanau_step(model, request.text, request.step)

    return lecture.cached(key, compute)


@router.post(
    "/score-functions", response_model=ScoreFunctionsResponse, responses={**BAD_BODY, **INVALID, **UNAVAILABLE}
)
def score_functions(request: LectureText, inference: InferenceDep) -> dict[str, Any]:
    """Every trained RNN score function's cross-attention map on one sentence, with its formula."""
    return lecture.score_functions(inference, request.text)  # each model's output is cached by the service


@router.get("/saturation", response_model=SaturationResponse, responses=INVALID)
def saturation(
    keys: Annotated[int, Query(ge=2, le=64, description="Keys per query.")] = 10,
    trials: Annotated[int, Query(ge=1, le=1000, description="Random queries per width.")] = 500,
    seed: Annotated[int, Query(ge=0, le=1_000_000, description="Random seed.")] = 0,
) -> dict[str, Any]:
    """Softmax of random q . k as d grows, raw and divided by sqrt(d), computed now."""
    return lecture.cached(
        ("saturation", keys, trials, seed), lambda: lecture.saturation(SATURATION_DIMS, keys, trials, seed)
    )


@router.post("/multihead", response_model=MultiheadResponse, responses={**BAD_BODY, **INVALID, **UNAVAILABLE})
def multihead(request: MultiheadRequest, inference: InferenceDep) -> dict[str, Any]:
    """One MiniLM layer for one query token: per-head outputs, their concatenation and the output projection."""
    model = inference.registry.text_model("minilm-l6")
    key = ("multihead", digest(inference, "minilm-l6"), request.text, request.layer, request.query)

    def compute() -> dict[str, Any]:
        with inference.slot():
            flush_denormals()
            return lecture.multihead(model, request.text, request.layer, request.query)

    return lecture.cached(key, compute)


@router.post("/decoder", response_model=DecoderResponse, responses={**BAD_BODY, **INVALID, **UNAVAILABLE})
def decoder(request: DecoderRequest, inference: InferenceDep) -> dict[str, Any]:
    """transformer-en-es: one decoder layer's masked self-attention and cross-attention, per head and mean."""
    return lecture.decoder_maps(inference, request.text, request.layer)  # the model output is cached by the service


@router.get("/captioning", response_model=CaptioningResponse, responses={**INVALID, **UNAVAILABLE})
def captioning(
    inference: InferenceDep,
    model: Annotated[Literal["captioner-sat", "captioner-transformer"], Query(description="Captioner.")] = (
        "captioner-sat"
    ),
    scene: Annotated[int, Query(ge=0, le=999, description="Test scene index.")] = 0,
) -> dict[str, Any]:
    """A captioner's caption of a composed test scene, with each word's attention over the patches."""
    key = ("captioning", digest(inference, model), scene)
    return lecture.cached(key, lambda: vision.captioning(inference, model, scene))


@router.get("/vit", response_model=VitResponse, responses={**NOT_FOUND, **INVALID, **UNAVAILABLE})
def vit(
    inference: InferenceDep,
    sample: Annotated[str, Query(max_length=40, description="Sample photo name (GET /api/samples).")] = "chelsea",
) -> dict[str, Any]:
    """DINOv2 on a sample photo: patches, the class token's attention per layer, and attention rollout."""
    if sample not in SAMPLES:
        raise HTTPException(404, detail=f"No sample named {sample[:40]!r}. Samples: {', '.join(SAMPLES)}.")
    try:
        data = sample_jpeg(sample)
    except FileNotFoundError:
        raise HTTPException(404, detail=f"Sample {sample!r} is not installed here.") from None
    key = ("vit", digest(inference, vision.VIT), sample)
    return lecture.cached(key, lambda: vision.vit(inference, data, sample))
