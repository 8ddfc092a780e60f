"""Attributions beside attention (Captum), and the heads that matter, for one text input."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from pydantic import WithJsonSchema

from app.api.deps import InferenceDep, SettingsDep
from app.api.routes.image import Ablate
from app.core.responses import FastJSONResponse
from app.schemas import (
    FORM_INTEGER,
    IMAGE_ATTRIBUTION_MODELS,
    RETRY_DESCRIPTION,
    AttentionReadout,
    AttributionMethod,
    HeadRankingRequest,
    HeadRankingResponse,
    ImageAttributionResponse,
    TextAttributionRequest,
    TextAttributionResponse,
    error_doc,
    image_attribution_form_rules,
)
from app.services.ablation import parse_ablate
from app.services.attribution import attribution_body, head_ranking_body, image_attribution_body

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


# An optional form integer: omitted is None, but a form cannot send null, so the schema types it as integer only.
Natural = WithJsonSchema({"type": "integer", "minimum": 0})
RetrySteps = WithJsonSchema({"type": "integer", "minimum": 2, "maximum": 256})
IMAGE_FORM_RULES: dict[str, Any] = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "allOf": [
                        {  # a head readout names its head
                            "if": {"properties": {"readout_kind": {"const": "head"}}, "required": ["readout_kind"]},
                            "then": {"required": ["readout_head"]},
                        },
                        *image_attribution_form_rules(),
                    ]
                }
            }
        }
    }
}


@router.post("/image", response_model=ImageAttributionResponse, responses=ERRORS, openapi_extra=IMAGE_FORM_RULES)
def image_attribution(
    model: Annotated[
        str, Form(min_length=1, max_length=100, description=f"One of {', '.join(IMAGE_ATTRIBUTION_MODELS)}.")
    ],
    file: Annotated[UploadFile, File(description="PNG, JPEG, GIF, WebP, BMP or TIFF; at most 10 MB.")],
    inference: InferenceDep,
    method: Annotated[AttributionMethod, Form(description="Captum method.")] = "integrated_gradients",
    steps: Annotated[
        int, Form(ge=2, le=256, description="Integrated gradients: interpolation steps."), FORM_INTEGER
    ] = 32,
    target: Annotated[
        int | None,
        Form(ge=0, description="Caption word to explain (it must exist in this image's caption); all when omitted."),
        FORM_INTEGER,
        Natural,
    ] = None,
    readout_kind: Annotated[Literal["head", "mean"], Form(description="Attention readout: head or mean.")] = "mean",
    readout_layer: Annotated[
        int | None, Form(ge=0, description="Readout layer; default the last."), FORM_INTEGER, Natural
    ] = None,
    readout_head: Annotated[
        int | None, Form(ge=0, description="Readout head (head readout, required there)."), FORM_INTEGER, Natural
    ] = None,
    top_k: Annotated[int, Form(ge=1, le=50, description="k of the top-k overlap."), FORM_INTEGER] = 3,
    ablate: Ablate = "",
    deletion: Annotated[
        bool, Form(description="With a target: that word's deletion curves over the grid cells (attention, "
                   "this method, random orders); ignored without a target.")
    ] = False,
    retry_steps: Annotated[
        int | None, Form(ge=2, le=256, description=RETRY_DESCRIPTION), FORM_INTEGER, RetrySteps
    ] = None,
) -> FastJSONResponse:
    """Captum attributions of each caption word to the image-feature grid, beside the cross-attention readout."""
    heads = parse_ablate(ablate)
    readout = None
    if readout_layer is not None or readout_kind == "head":
        readout = AttentionReadout(kind=readout_kind, layer=readout_layer, head=readout_head)
    data = file.file.read()  # the body-limit middleware has already bounded the size
    return FastJSONResponse(
        image_attribution_body(
            inference, model, data, method, steps, target, readout, top_k, heads, deletion, retry_steps
        )
    )
