"""GET /api/samples: the image page's gallery (real photos and held-out composed scenes, each with what a captioner
should find), and GET /api/samples/{name}: one of them (a photo as its file's bytes, a scene as PNG)."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from app.api.deps import SettingsDep
from app.schemas import ErrorResponse, SampleImage, error_doc
from app.services.gallery import PACKAGE_PHOTOS, gallery, image_bytes, sample_jpeg, sample_path

router = APIRouter(prefix="/api/samples", tags=["samples"])

SAMPLES = PACKAGE_PHOTOS  # the package photos, also offered by the lecture page's ViT panel
__all__ = ["SAMPLES", "router", "sample_jpeg", "sample_path"]


@router.get(
    "",
    response_model=list[SampleImage],
    responses={422: error_doc("A malformed query parameter.",
                              "query.all: Input should be a valid boolean, unable to interpret input.")},
)
def list_samples(
    settings: SettingsDep,
    include_all: Annotated[
        bool,
        Query(
            alias="all",
            description="Also list the evaluation photos the gallery does not offer (offered: false): those the best "
            "captioner misses, each with a note. The image page opens them from the /eval page's links.",
        ),
    ] = False,
) -> list[SampleImage]:
    """The gallery: package photos and real evaluation photos the best captioner names (or whose main object is
    outside its vocabulary), then held-out test scenes whose every object it names (reports/gallery.json)."""
    return [
        SampleImage(
            name=item.name,
            title=item.title,
            url=f"/api/samples/{item.name}",
            source=item.source,
            license=item.license,
            kind=item.kind,
            expect=list(item.expect),
            synonyms=list(item.synonyms),
            offered=item.offered,
            note=item.note or None,
        )
        for item in gallery(settings.scenes_dir, settings.real_photos_dir, settings.reports_dir).values()
        if include_all or item.offered
    ]


@router.get(
    "/{name}",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "The photo (JPEG) or scene (PNG)."},
        404: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
def get_sample(name: str, settings: SettingsDep) -> Response:
    """One sample, offered or not: a photo as its file's own bytes (JPEG or PNG), a composed scene as PNG."""
    items = gallery(settings.scenes_dir, settings.real_photos_dir, settings.reports_dir)
    item = items.get(name)
    if item is None:
        shown = ", ".join(list(items)[:12])
        raise HTTPException(404, detail=f"No sample named {name[:50]!r}. Samples: {shown}; GET /api/samples lists all.")
    try:
        data = image_bytes(item)
    except FileNotFoundError:
        raise HTTPException(404, detail=f"Sample {name!r} is not installed here.") from None
    except (OSError, ValueError) as err:  # e.g. a scene whose emoji font or stamp is not installed
        raise HTTPException(503, detail=f"Sample {name!r} cannot be drawn here: {type(err).__name__}.") from None
    # A scene's name is its id in data/scenes, which a rebuilt scene set may draw differently: kept briefly.
    age = 86400 if item.kind == "photo" else 600
    return Response(data, media_type=item.media_type, headers={"Cache-Control": f"public, max-age={age}"})
