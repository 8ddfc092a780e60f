from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Response

from app.api.deps import InferenceDep, ReferenceDep, SettingsDep
from app.core.responses import FastJSONResponse
from app.schemas import TextAttentionRequest, TextAttentionResponse, error_doc
from app.services.ablation import ablated_text
from app.services.export import answer_file
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


FILES: dict[str, Any] = {
    "text/csv": {"schema": {"type": "string"}, "example": "kind,layer,head,query,[CLS],the,...\n"},
    "application/x-npz": {"schema": {"type": "string", "format": "binary"}},
}
ACCEPTED = {"text/csv": "csv", "application/x-npz": "npz"}


@router.post(
    "/text",
    response_model=TextAttentionResponse,
    responses={**ERRORS, 200: {"description": "The maps (JSON), or a file (format csv/npz)", "content": FILES}},
)
def text_attention(
    request: TextAttentionRequest,
    inference: InferenceDep,
    settings: SettingsDep,
    reference: ReferenceDep,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Every selected attention map of a text model for one input text (as JSON, CSV or .npz)."""
    fmt: str = request.format
    if fmt == "json" and accept:
        fmt = next((f for media, f in ACCEPTED.items() if media in accept), "json")
    body = text_body(request, inference, settings, reference)
    if fmt != "json":
        data, media = answer_file(body, fmt)
        name = f"attnviz-{request.model}.{fmt}"
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
    # Built as plain JSON: validating a million floats through Pydantic would cost more than the model.
    return FastJSONResponse(body)


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
    spec = inference.registry.spec(request.model)
    # beam 1 is greedy decoding, which every model does (an encoder decodes nothing): only a wider beam is an option.
    beam = request.beam
    options: dict[str, int] = {} if beam is None or (beam == 1 and "beam" not in spec.options) else {"beam": beam}
    if request.ablate and options:
        raise HTTPException(422, detail="Head ablation and beam search cannot be combined; drop one of them.")
    if request.ablate:
        output = ablated_text(inference, request.model, request.text, request.ablate, request.layers, request.heads)
    else:
        output = inference.text(request.model, request.text, options, request.layers, request.heads)
    body = text_response(
        request.model, output, request.layers, request.heads, request.kinds, request.encoding, request.word_level
    )
    if request.reference is not None:
        try:
            body["reference"] = reference.reference(inference.registry.spec(request.model), output)
        except ReferenceUnavailableError as exc:
            raise HTTPException(503, detail=str(exc)) from exc
    return body
