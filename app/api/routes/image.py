"""POST /api/attention/image: an uploaded photo through a vision model or a captioner, every map as a patch grid."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Header, HTTPException, Response, UploadFile

from app.api.deps import InferenceDep
from app.api.routes.text import ACCEPTED, FILES
from app.core.responses import FastJSONResponse
from app.schemas import (
    INDEX_LIST_FORM,
    JSON_WHITE_SPACE,
    MAX_INDICES,
    ImageAttentionResponse,
    ablate_pattern,
    error_doc,
    image_form_rules,
    index_list_pattern,
)
from app.services.ablation import ablated_image, parse_ablate
from app.services.export import answer_file
from app.services.inference import InferenceService
from app.services.serialize import image_response

router = APIRouter(prefix="/api/attention", tags=["attention"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc("Malformed multipart body.", "The multipart body could not be parsed."),
    404: error_doc("Unknown model id.", "Unknown model 'gpt-9'. Known models: dinov2-s14, captioner-sat."),
    413: error_doc(
        "Upload over the size limit (10 MB by default).", "The request body is over the limit of 10485760 bytes."
    ),
    422: error_doc(
        "Missing field, not a usable image (corrupt, SVG, too many pixels), a model that does not take images, "
        "or a layer/head that does not exist.",
        "The file is not an image this service can read (PNG, JPEG, GIF, WebP, BMP or TIFF).",
    ),
    503: error_doc(
        "The model cannot be loaded here.",
        "Model 'captioner-sat' cannot be loaded here: models/weights/captioner-sat/model.safetensors is missing.",
    ),
}


def parse_indices(raw: str | None, what: str) -> list[int] | None:
    """'0, 5,11' -> [0, 5, 11]; None or blank -> None (all). HTTPException 422 for anything else: the field's
    schema pattern (app.schemas.index_list_pattern) is the grammar."""
    if raw is None or not raw.strip(JSON_WHITE_SPACE):
        return None
    if not INDEX_LIST_FORM.fullmatch(raw):
        raise HTTPException(
            422, detail=f"{what} must be comma-separated integers such as 0,5,11 (at most {MAX_INDICES}); got {raw!r}."
        )
    return [int(p) for p in raw.split(",")]


# The optional form fields, shared with POST /api/results/image: omitted means all (or none ablated). A form
# field carries text, so none of them is nullable: "null" would be the four letters, not a missing value. Their
# patterns are checked by parse_indices and parse_ablate, whose errors say what to send instead of quoting them.
Layers = Annotated[
    str,
    Form(
        max_length=2000,
        json_schema_extra={"pattern": index_list_pattern()},
        description="Comma-separated 0-based layers, e.g. `11` or `0,5,11`; omitted or blank: all.",
    ),
]
Heads = Annotated[
    str,
    Form(
        max_length=2000,
        json_schema_extra={"pattern": index_list_pattern()},
        description="Comma-separated 0-based heads for the per-head maps; omitted or blank: all.",
    ),
]


def ablate_form(description: str) -> Any:
    """The `ablate` form field: a JSON list of heads (app.schemas.ablate_pattern), checked by parse_ablate."""
    return Form(max_length=4000, json_schema_extra={"pattern": ablate_pattern()}, description=description)


Ablate = Annotated[
    str,
    ablate_form(
        "Heads to switch off, a JSON list of [layer, head] (dinov2-s14: self-attention; captioner-transformer: "
        "cross-attention), e.g. [[11, 0], [10, 3]]; omitted, blank or []: exactly the unablated answer."
    ),
]
# What each catalog model takes, as `allOf` rules beside the generated form schema.
FORM_RULES: dict[str, Any] = {
    "requestBody": {"content": {"multipart/form-data": {"schema": {"allOf": image_form_rules()}}}}
}


@router.post(
    "/image",
    response_model=ImageAttentionResponse,
    responses={**ERRORS, 200: {"description": "The maps (JSON), or a file (format csv/npz)", "content": FILES}},
    openapi_extra=FORM_RULES,
)
def image_attention(
    model: Annotated[str, Form(min_length=1, max_length=100, description="Vision model id from GET /api/models.")],
    file: Annotated[UploadFile, File(description="PNG, JPEG, GIF, WebP, BMP or TIFF; at most 10 MB.")],
    inference: InferenceDep,
    layers: Layers = "",
    heads: Heads = "",
    ablate: Ablate = "",
    fmt: Annotated[
        Literal["json", "csv", "npz"],
        Form(alias="format", description="json (default), or a file: csv (one block per map, rows and columns "
             "named 'row r' / 'col c') or npz (one float32 array per map)."),
    ] = "json",
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Every selected map of one image: class-token maps (vision) or per-word spatial maps (captioning), as JSON,
    CSV or .npz (the `format` field, or an Accept header of text/csv or application/x-npz)."""
    wanted: str = fmt
    if wanted == "json" and accept:
        wanted = next((f for media, f in ACCEPTED.items() if media in accept), "json")
    data = file.file.read()  # the body-limit middleware has already bounded the size
    body = image_body(inference, model, data, layers, heads, ablate)
    if wanted != "json":
        content, media = answer_file(body, wanted)
        name = f"attnviz-{model}.{wanted}"
        return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
    # Plain JSON, like the text route: ~25k floats validated by Pydantic would cost more than they are worth.
    return FastJSONResponse(body)


def image_body(
    inference: InferenceService, model: str, data: bytes, layers: str | None, heads: str | None, ablate: str | None
) -> dict[str, Any]:
    """The answer of /api/attention/image as a dict (also what a saved image result stores)."""
    chosen_layers, chosen_heads = parse_indices(layers, "layers"), parse_indices(heads, "heads")
    ablated = parse_ablate(ablate)
    # Unknown model -> 404, unavailable -> 503, bad input -> 422: app.core.errors maps them.
    output = ablated_image(inference, model, data, ablated) if ablated else inference.image(model, data)
    return image_response(model, output, chosen_layers, chosen_heads)
