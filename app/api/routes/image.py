"""POST /api/attention/image: an uploaded photo through a vision model or a captioner, every map as a patch grid."""

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile

from app.api.deps import InferenceDep
from app.core.responses import FastJSONResponse
from app.schemas import ImageAttentionResponse, error_doc
from app.services.attribution import ablated_image, parse_ablate
from app.services.serialize import image_response

router = APIRouter(prefix="/api/attention", tags=["attention"])

MAX_INDICES = 256  # longest accepted layers/heads list

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
    """'0, 5,11' -> [0, 5, 11]; None or blank -> None (all). HTTPException 422 for anything else."""
    if raw is None or not raw.strip():
        return None
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) > MAX_INDICES or not all(p.lstrip("-").isdigit() for p in parts):
        raise HTTPException(
            422, detail=f"{what} must be comma-separated integers such as 0,5,11 (at most {MAX_INDICES}); got {raw!r}."
        )
    return [int(p) for p in parts]


@router.post("/image", response_model=ImageAttentionResponse, responses=ERRORS)
def image_attention(
    model: Annotated[str, Form(min_length=1, max_length=100, description="Vision model id from GET /api/models.")],
    file: Annotated[UploadFile, File(description="PNG, JPEG, GIF, WebP, BMP or TIFF; at most 10 MB.")],
    inference: InferenceDep,
    layers: Annotated[
        str | None, Form(max_length=2000, description="Comma-separated 0-based layers, e.g. `11` or `0,5,11`.")
    ] = None,
    heads: Annotated[
        str | None, Form(max_length=2000, description="Comma-separated 0-based heads for the per-head maps.")
    ] = None,
    ablate: Annotated[
        str | None,
        Form(
            max_length=4000,
            description="Heads to switch off, a JSON list of [layer, head] (dinov2-s14: self-attention; "
            "captioner-transformer: cross-attention), e.g. [[11, 0], [10, 3]]; empty: exactly the unablated answer.",
        ),
    ] = None,
) -> FastJSONResponse:
    """Every selected map of one image: class-token maps (vision) or per-word spatial maps (captioning)."""
    chosen_layers, chosen_heads = parse_indices(layers, "layers"), parse_indices(heads, "heads")
    ablated = parse_ablate(ablate)
    data = file.file.read()  # the body-limit middleware has already bounded the size
    # Unknown model -> 404, unavailable -> 503, bad input -> 422: app.core.errors maps them.
    output = ablated_image(inference, model, data, ablated) if ablated else inference.image(model, data)
    # Plain JSON, like the text route: ~25k floats validated by Pydantic would cost more than they are worth.
    return FastJSONResponse(image_response(model, output, chosen_layers, chosen_heads))
