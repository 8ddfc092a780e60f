"""Sample photos shipped inside scikit-image and scikit-learn, served as JPEG for one-click demos."""

import importlib.util
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from app.schemas import ErrorResponse, SampleImage

router = APIRouter(prefix="/api/samples", tags=["samples"])


@dataclass(frozen=True)
class Sample:
    title: str  # shown on the button
    package: str  # top-level package that ships the file (found without importing it)
    path: str  # file inside that package
    source: str  # where it comes from, for people
    license: str  # as the package states it


SAMPLES: dict[str, Sample] = {
    "chelsea": Sample("Chelsea the cat", "skimage", "data/chelsea.png", "scikit-image skimage.data.chelsea",
                      "CC0 (Stefan van der Walt)"),
    "astronaut": Sample("Astronaut Eileen Collins", "skimage", "data/astronaut.png",
                        "scikit-image skimage.data.astronaut (NASA)", "Public domain"),
    "coffee": Sample("Cup of coffee", "skimage", "data/coffee.png", "scikit-image skimage.data.coffee",
                     "CC0 (Rachel Michetti)"),
    "rocket": Sample("Falcon 9 launch", "skimage", "data/rocket.jpg", "scikit-image skimage.data.rocket (SpaceX)",
                     "Public domain"),
    "motorcycle": Sample("Motorcycle", "skimage", "data/motorcycle_left.png",
                         "scikit-image skimage.data.stereo_motorcycle (Middlebury 2014 stereo)",
                         "Middlebury stereo benchmark, free for research"),
    "china": Sample("Summer palace, China", "sklearn", "datasets/images/china.jpg",
                    "scikit-learn load_sample_images (danielbuechele on Flickr)", "CC BY 2.0"),
    "flower": Sample("Flower", "sklearn", "datasets/images/flower.jpg",
                     "scikit-learn load_sample_images (vultilion on Flickr)", "CC BY 2.0"),
}


def sample_path(sample: Sample) -> Path | None:
    """The file on disk, or None when its package is not installed."""
    spec = importlib.util.find_spec(sample.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / sample.path
    return path if path.is_file() else None


@lru_cache(maxsize=len(SAMPLES))
def sample_jpeg(name: str) -> bytes:
    """The sample as an RGB JPEG (quality 90), encoded once in memory."""
    from PIL import Image

    path = sample_path(SAMPLES[name])
    if path is None:
        raise FileNotFoundError(name)
    with Image.open(path) as img:
        buffer = io.BytesIO()
        img.convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@router.get("", response_model=list[SampleImage])
def list_samples() -> list[SampleImage]:
    """The sample photos available here (their packages installed)."""
    return [
        SampleImage(name=name, title=s.title, url=f"/api/samples/{name}", source=s.source, license=s.license)
        for name, s in SAMPLES.items()
        if sample_path(s) is not None
    ]


@router.get(
    "/{name}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The photo."}, 404: {"model": ErrorResponse}},
)
def get_sample(name: str) -> Response:
    """One sample photo as JPEG."""
    if name not in SAMPLES:
        raise HTTPException(404, detail=f"No sample named {name[:50]!r}. Samples: {', '.join(SAMPLES)}.")
    try:
        data = sample_jpeg(name)
    except FileNotFoundError:
        raise HTTPException(404, detail=f"Sample {name!r} is not installed here.") from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})
