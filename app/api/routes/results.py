"""Saved results: POST /api/results/text and /api/results/image store a result and return its permanent link
/r/<id>; GET /api/results/{id} gives it back exactly as saved (with a note when the model's weights changed since)
and GET /api/results/{id}/image the photo of an image result (re-encoded, metadata stripped); DELETE
/api/results/{id} removes it with the delete token handed out at save time."""

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, HTTPException, Path, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor

from app.api.deps import InferenceDep, ReferenceDep, SettingsDep
from app.api.routes.image import ERRORS as IMAGE_ERRORS
from app.api.routes.image import FORM_RULES, Ablate, Heads, Layers, image_body
from app.api.routes.text import ERRORS as TEXT_ERRORS
from app.api.routes.text import text_body
from app.core.config import REPO_ROOT
from app.core.responses import FastJSONResponse
from app.schemas import TextAttentionRequest, error_doc
from app.services.registry import ModelRegistry
from app.services.results import ResultLimitError, ResultStore, weights_digest
from models.serve.images import clean_copy

router = APIRouter(tags=["results"])

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")  # secrets.token_urlsafe(16): 128 random bits


class ResultIdConvertor(Convertor[str]):
    """Routes only well-formed ids to /api/results/{id}, so /api/results/text stays POST-only (a concrete path wins
    over a templated one, as in OpenAPI); any other segment is a plain 404."""

    regex = ID_PATTERN.pattern.strip("^$")

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("result_id", ResultIdConvertor())
ResultId = Annotated[str, Path(pattern=ID_PATTERN.pattern, description="The id POST /api/results/* returned.")]
NOT_FOUND = error_doc("No saved result with this id.", "No saved result with this id (deleted, or never saved).")


class SavedResult(BaseModel):
    """Where a saved result lives, and the token that deletes it (shown once: keep it)."""

    id: str = Field(examples=["q3Jd1n0yW2h8mYb9l2cV4A"])
    url: str = Field(examples=["/r/q3Jd1n0yW2h8mYb9l2cV4A"])
    delete_token: str = Field(examples=["p0f3-8y6yYy0xW7Vb2c1nQm4m9s1kQ2Z"])
    bytes: int = Field(description="Bytes stored (compressed request and result)", examples=[183204])


class StoredResult(BaseModel):
    """A saved result, exactly as it was answered when saved."""

    id: str
    created: float = Field(description="Unix time of the save")
    kind: str = Field(description="text or image", examples=["text"])
    model: str = Field(examples=["minilm-l6"])
    request: dict[str, Any] = Field(
        description="The request as saved: the POST /api/attention/text body, or the form fields of "
        "/api/attention/image (model, layers, heads, ablate; the photo is at image_url)"
    )
    result: dict[str, Any] = Field(description="The answer as saved (/api/attention/text with float16 maps, or "
                                   "/api/attention/image)")
    image_url: str | None = Field(
        default=None, description="The stored photo of an image result (JPEG)", examples=[None]
    )
    weights_sha256: str = Field(description="sha256 of the model's weights when the result was saved")
    model_changed: bool = Field(description="The model's weights differ now: rerunning would not give this result")
    note: str | None = Field(default=None, examples=["The model has changed since this result was saved."])


def store_of(request: Request) -> ResultStore:
    store: ResultStore | None = getattr(request.app.state, "results", None)
    if store is None:
        settings = request.app.state.settings
        store = ResultStore(settings.results_db, settings.results_max_count, settings.results_max_mb * 1024 * 1024)
        request.app.state.results = store
    return store


UNAVAILABLE = (
    "Saved results are unavailable here: the results database cannot be opened or written (ATTNVIZ_RESULTS_DB)."
)


@contextmanager
def storage() -> Iterator[None]:
    """A database that cannot be opened or written (read-only disk, bad path, full disk) is a 503, not a 500."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise HTTPException(503, detail=UNAVAILABLE) from exc


def current_weights(registry: ModelRegistry, model_id: str) -> str:
    """sha256 of a model's weight files now (our trained models), or of its source line (installed packages)."""
    spec = registry.spec(model_id)
    files = [REPO_ROOT / f for f in spec.requires_files] or [REPO_ROOT / a for a in spec.loader_args]
    return weights_digest([f for f in files if f.is_file()], f"{spec.id}|{spec.source}")


SAVE_ERRORS: dict[int | str, dict[str, Any]] = {
    **TEXT_ERRORS,
    409: error_doc(
        "The store is full (count or size limit).", "The store is full (10000 saved results); delete some first."
    ),
}


@router.post("/api/results/text", response_model=SavedResult, status_code=201, responses=SAVE_ERRORS)
def save_text(
    body: TextAttentionRequest, request: Request, inference: InferenceDep, settings: SettingsDep,
    reference: ReferenceDep,
) -> SavedResult:  # fmt: skip
    """Run (or reuse) a text request and store its answer; returns the permanent link and a delete token."""
    compact = body.model_copy(update={"encoding": "f16", "format": "json"})  # compact: the pages decode float16
    result = text_body(compact, inference, settings, reference)
    digest = current_weights(inference.registry, body.model)
    return save(request, "text", body.model, digest, compact.model_dump(mode="json"), result)


def save(request: Request, kind: str, model: str, digest: str, asked: dict[str, Any], result: dict[str, Any],
         image: bytes | None = None) -> SavedResult:  # fmt: skip
    try:
        with storage():
            saved = store_of(request).save(kind, model, digest, asked, result, image)
    except ResultLimitError as exc:
        raise HTTPException(413 if exc.too_large else 409, detail=str(exc)) from exc
    return SavedResult(id=saved.id, url=f"/r/{saved.id}", delete_token=saved.delete_token, bytes=saved.bytes)


IMAGE_SAVE_ERRORS: dict[int | str, dict[str, Any]] = {**IMAGE_ERRORS, 409: SAVE_ERRORS[409]}


@router.post(
    "/api/results/image",
    response_model=SavedResult,
    status_code=201,
    responses=IMAGE_SAVE_ERRORS,
    openapi_extra=FORM_RULES,
)
def save_image(
    model: Annotated[str, Form(min_length=1, max_length=100, description="Vision model id from GET /api/models.")],
    file: Annotated[UploadFile, File(description="PNG, JPEG, GIF, WebP, BMP or TIFF; at most 10 MB.")],
    request: Request,
    inference: InferenceDep,
    layers: Layers = "",
    heads: Heads = "",
    ablate: Ablate = "",
) -> SavedResult:  # fmt: skip
    """Run an image request and store its answer with the photo (re-encoded as JPEG, every metadata block
    dropped); returns the permanent link and a delete token."""
    data = file.file.read()  # the body-limit middleware has already bounded the size
    result = image_body(inference, model, data, layers, heads, ablate)
    photo = clean_copy(data)
    digest = current_weights(inference.registry, model)
    asked = {"model": model, "layers": layers or None, "heads": heads or None, "ablate": ablate or None}  # as before
    return save(request, "image", model, digest, asked, result, photo)


STORE_DOWN = error_doc("The results database cannot be opened or written.", UNAVAILABLE)


@router.get(
    "/api/results/{result_id:result_id}", response_model=StoredResult, responses={404: NOT_FOUND, 503: STORE_DOWN}
)
def open_result(result_id: ResultId, request: Request, inference: InferenceDep) -> FastJSONResponse:
    """A saved result as it was saved; model_changed says whether the model's weights differ now."""
    with storage():
        stored = store_of(request).get(result_id) if ID_PATTERN.match(result_id) else None
    if stored is None:
        raise HTTPException(404, detail="No saved result with this id (deleted, or never saved).")
    try:
        changed = current_weights(inference.registry, stored.model) != stored.weights
    except Exception:  # the model is no longer served at all
        changed = True
    note = (
        "The model has changed since this result was saved: rerunning it would give another answer."
        if changed
        else None
    )
    return FastJSONResponse({
        "id": stored.id, "created": stored.created, "kind": stored.kind, "model": stored.model,
        "request": stored.request, "result": stored.result, "weights_sha256": stored.weights,
        "model_changed": changed, "note": note,
        "image_url": f"/api/results/{stored.id}/image" if stored.image is not None else None,
    })  # fmt: skip


@router.get(
    "/api/results/{result_id:result_id}/image",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The photo of a saved image result (JPEG)."},
        404: NOT_FOUND,
        503: STORE_DOWN,
    },
)
def result_image(result_id: ResultId, request: Request) -> Response:
    """The photo stored with an image result: upright, re-encoded as JPEG, no metadata."""
    with storage():
        stored = store_of(request).get(result_id) if ID_PATTERN.match(result_id) else None
    if stored is None or stored.image is None:
        raise HTTPException(404, detail="No saved result with this id (deleted, or never saved).")
    return Response(stored.image, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


@router.delete(
    "/api/results/{result_id:result_id}",
    status_code=204,
    responses={
        403: error_doc("Wrong delete token.", "The delete token does not match this result."),
        404: NOT_FOUND,
        422: error_doc("No delete token.", "Send the delete token in the X-Delete-Token header."),
        503: STORE_DOWN,
    },
)
def delete_result(
    result_id: ResultId,
    request: Request,
    x_delete_token: Annotated[str, Header(min_length=1, description="The token handed out when it was saved.")],
) -> Response:
    """Delete a saved result with the token returned when it was saved (header X-Delete-Token)."""
    with storage():
        done = store_of(request).delete(result_id, x_delete_token) if ID_PATTERN.match(result_id) else None
    if done is None:
        raise HTTPException(404, detail="No saved result with this id (deleted, or never saved).")
    if not done:
        raise HTTPException(403, detail="The delete token does not match this result.")
    return Response(status_code=204)


VIEW_KEYS = ("kind", "layer", "head", "step", "view", "word_level")  # what a link may say about the view it opens on


@router.get("/r/{result_id}", include_in_schema=False)
def permalink(result_id: str, request: Request) -> RedirectResponse:
    """The permanent link: opens the text or image page on the stored result, which it fetches and draws (and which
    says so when the id is unknown); kind, layer, head, step, view and word_level in the link choose the view."""
    from urllib.parse import urlencode

    safe = result_id if ID_PATTERN.match(result_id) else "invalid"
    page = "/"
    if safe != "invalid":
        with storage():
            page = "/image" if store_of(request).kind_of(safe) == "image" else "/"
    view = [(k, v[:40]) for k, v in request.query_params.items() if k in VIEW_KEYS]
    return RedirectResponse(f"{page}?{urlencode([('result', safe), *view])}", status_code=307)
