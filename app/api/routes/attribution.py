"""Attributions beside attention (Captum), and the heads that matter, for one text input."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, UploadFile

from app.api.deps import InferenceDep, SettingsDep
from app.core.responses import FastJSONResponse
from app.schemas import (
    AttentionReadout,
    AttributionMethod,
    HeadRankingRequest,
    HeadRankingResponse,
    ImageAttributionResponse,
    TextAttributionRequest,
    TextAttributionResponse,
    error_doc,
)
from app.services.attribution import attribution_body, head_ranking_body, image_attribution_body, parse_ablate

router = APIRouter(prefix="/api/attribution", tags=["attribution"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc("Body is not valid UTF-8 JSON.", "The request body is not valid UTF-8 (bad byte at offset 12)."),
    404: error_doc("Unknown model id.", "Unknown model 'gpt-9'. Known models: minilm-l6, marian-en-pt."),
    413: error_doc("Request body too large.", "The request body is 2000000 bytes; the limit is 1048576."),
    422: error_doc(
        "Invalid input: empty or long text, a model without attributions, a head or row out of range, too many steps.",
        "Head [cross, 2, 0] does not exist; cross has layers 0-1 and heads 0-7.",
    ),
    503: error_doc(
        "Model cannot load here, or server busy (Retry-After).",
        "The server is busy with other requests; retry in a moment.",
    ),
}


def check_text(text: str, limit: int) -> None:
    """422 for an empty or over-long text."""
    if not text.strip():
        raise HTTPException(422, detail="The text is empty; type a sentence.")
    if len(text) > limit:
        raise HTTPException(422, detail=f"The text is {len(text)} characters long; the limit is {limit}.")


@router.post("/text", response_model=TextAttributionResponse, responses=ERRORS)
def text_attribution(
    request: TextAttributionRequest, inference: InferenceDep, settings: SettingsDep
) -> FastJSONResponse:
    """Captum attributions of each output row to the input tokens, the attention readout, and their agreement."""
    check_text(request.text, settings.max_text_chars)
    if request.compare_with is not None and len(request.compare_with) > settings.max_text_chars:
        raise HTTPException(422, detail=f"compare_with is longer than {settings.max_text_chars} characters.")
    return FastJSONResponse(attribution_body(inference, request))


@router.post("/heads", response_model=HeadRankingResponse, responses=ERRORS)
def head_ranking(request: HeadRankingRequest, inference: InferenceDep, settings: SettingsDep) -> FastJSONResponse:
    """Every head switched off alone; heads ranked by how much the output's score moves."""
    check_text(request.text, settings.max_text_chars)
    if request.compare_with is not None and len(request.compare_with) > settings.max_text_chars:
        raise HTTPException(422, detail=f"compare_with is longer than {settings.max_text_chars} characters.")
    return FastJSONResponse(
        head_ranking_body(inference, request.model, request.text, request.compare_with, request.top)
    )


@router.post("/image", response_model=ImageAttributionResponse, responses=ERRORS)
def image_attribution(
    model: Annotated[str, Form(min_length=1, max_length=100, description="A captioner: captioner-transformer.")],
    file: Annotated[UploadFile, File(description="PNG, JPEG, GIF, WebP, BMP or TIFF; at most 10 MB.")],
    inference: InferenceDep,
    method: Annotated[AttributionMethod, Form(description="Captum method.")] = "integrated_gradients",
    steps: Annotated[int, Form(ge=2, le=256, description="Integrated gradients: interpolation steps.")] = 32,
    target: Annotated[int | None, Form(ge=0, description="Caption word to explain; all when omitted.")] = None,
    readout_kind: Annotated[Literal["head", "mean"], Form(description="Attention readout: head or mean.")] = "mean",
    readout_layer: Annotated[int | None, Form(ge=0, description="Readout layer; default the last.")] = None,
    readout_head: Annotated[int | None, Form(ge=0, description="Readout head (head readout).")] = None,
    top_k: Annotated[int, Form(ge=1, le=50, description="k of the top-k overlap.")] = 3,
    ablate: Annotated[
        str | None, Form(max_length=4000, description="JSON list of [layer, head] to switch off, e.g. [[2, 1]].")
    ] = None,
) -> FastJSONResponse:
    """Captum attributions of each caption word to the image-feature grid, beside the cross-attention readout."""
    heads = parse_ablate(ablate)
    readout = None
    if readout_layer is not None or readout_kind == "head":
        readout = AttentionReadout(kind=readout_kind, layer=readout_layer, head=readout_head)
    data = file.file.read()  # the body-limit middleware has already bounded the size
    return FastJSONResponse(
        image_attribution_body(inference, model, data, method, steps, target, readout, top_k, heads)
    )
