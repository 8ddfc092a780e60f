from typing import Any

from fastapi import APIRouter, HTTPException

from app.api.deps import InferenceDep, ReferenceDep, SettingsDep
from app.core.responses import FastJSONResponse
from app.schemas import TextAttentionRequest, TextAttentionResponse, error_doc
from app.services.attribution import ablated_text
from app.services.reference import ReferenceUnavailableError
from app.services.serialize import text_response

router = APIRouter(prefix="/api/attention", tags=["attention"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc("Body is not valid UTF-8 JSON.", "The request body is not valid UTF-8 (bad byte at offset 12)."),
    404: error_doc("Unknown model id.", "Unknown model 'gpt-9'. Known models: minilm-l6, marian-en-pt."),
    413: error_doc("Request body too large.", "The request body is 2000000 bytes; the limit is 1048576."),
    422: error_doc(
        "Invalid input: empty or long text, bad types, bad layer/head.", "The text is empty; type a sentence."
    ),
    503: error_doc(
        "Model cannot load here, or server busy (Retry-After).",
        "The server is busy with other requests; retry in a moment.",
    ),
}


@router.post("/text", response_model=TextAttentionResponse, responses=ERRORS)
def text_attention(
    request: TextAttentionRequest, inference: InferenceDep, settings: SettingsDep, reference: ReferenceDep
) -> FastJSONResponse:
    """Every selected attention map of a text model for one input text."""
    # Built as plain JSON: validating a million floats through Pydantic would cost more than the model.
    return FastJSONResponse(text_body(request, inference, settings, reference))


def text_body(
    request: TextAttentionRequest, inference: InferenceDep, settings: SettingsDep, reference: ReferenceDep
) -> dict[str, Any]:
    """The answer of POST /api/attention/text as a dict (also what a saved result stores)."""
    if not request.text.strip():
        raise HTTPException(422, detail="The text is empty; type a sentence.")
    if len(request.text) > settings.max_text_chars:
        raise HTTPException(
            422,
            detail=f"The text is {len(request.text)} characters long; the limit is {settings.max_text_chars}.",
        )
    # Unknown model -> 404, unavailable -> 503, bad input -> 422: app.core.errors maps them.
    options = {"beam": request.beam} if request.beam is not None else {}
    if request.ablate and options:
        raise HTTPException(422, detail="Head ablation and beam search cannot be combined; drop one of them.")
    if request.ablate:
        output = ablated_text(inference, request.model, request.text, request.ablate)
    else:
        output = inference.text(request.model, request.text, options)
    body = text_response(
        request.model, output, request.layers, request.heads, request.kinds, request.encoding, request.word_level
    )
    if request.reference is not None:
        try:
            body["reference"] = reference.reference(inference.registry.spec(request.model), output)
        except ReferenceUnavailableError as exc:
            raise HTTPException(503, detail=str(exc)) from exc
    return body
