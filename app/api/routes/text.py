from typing import Any

from fastapi import APIRouter, HTTPException

from app.api.deps import InferenceDep, ReferenceDep, SettingsDep
from app.core.responses import FastJSONResponse
from app.schemas import ErrorResponse, TextAttentionRequest, TextAttentionResponse
from app.services.reference import ReferenceUnavailableError
from app.services.serialize import text_response

router = APIRouter(prefix="/api/attention", tags=["attention"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown model id."},
    413: {"model": ErrorResponse, "description": "Request body too large."},
    422: {"model": ErrorResponse, "description": "Invalid input: empty or long text, bad types, bad layer/head."},
    400: {"model": ErrorResponse, "description": "Body is not valid UTF-8 JSON."},
    503: {"model": ErrorResponse, "description": "Model cannot load here, or server busy (Retry-After)."},
}


@router.post("/text", response_model=TextAttentionResponse, responses=ERRORS)
def text_attention(
    request: TextAttentionRequest, inference: InferenceDep, settings: SettingsDep, reference: ReferenceDep
) -> FastJSONResponse:
    """Every selected attention map of a text model for one input text."""
    if not request.text.strip():
        raise HTTPException(422, detail="The text is empty; type a sentence.")
    if len(request.text) > settings.max_text_chars:
        raise HTTPException(
            422,
            detail=f"The text is {len(request.text)} characters long; the limit is {settings.max_text_chars}.",
        )
    # Unknown model -> 404, unavailable -> 503, bad input -> 422: app.core.errors maps them.
    options = {"beam": request.beam} if request.beam is not None else {}
    output = inference.text(request.model, request.text, options)
    body = text_response(
        request.model, output, request.layers, request.heads, request.kinds, request.encoding, request.word_level
    )
    if request.reference is not None:
        try:
            body["reference"] = reference.reference(inference.registry.spec(request.model), output)
        except ReferenceUnavailableError as exc:
            raise HTTPException(503, detail=str(exc)) from exc
    # Built as plain JSON: validating a million floats through Pydantic would cost more than the model.
    return FastJSONResponse(body)
