"""App factory: settings, registry, middleware, routers, templates and static files."""

import logging
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app.api.routes import (
    attribution,
    audio,
    concepts,
    concepts_lecture,
    heads,
    health,
    image,
    models,
    pages,
    reports,
    results,
    samples,
    text,
)
from app.core.config import Settings, get_settings
from app.core.errors import install_error_handlers
from app.core.malloc import limit_malloc_arenas
from app.core.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from app.services.inference import InferenceService
from app.services.reference import ReferenceService
from app.services.registry import ModelRegistry
from models.catalog import CATALOG, RNN_CATALOG, TRANSFORMER_EN_ES, ModelSpec, hf_spec

logger = logging.getLogger(__name__)

# Swagger UI 5 (OpenAPI 3.1 capable), shipped inside the fastapi-offline package.
SWAGGER_UI_DIR = Path(fastapi_offline.__file__).parent / "static"

DESCRIPTION = """
attnviz shows the attention weights of real neural models.
Every map is the model's own softmax output: rows are queries, columns are keys, each row sums to 1.
"""


def declared_models(settings: Settings) -> list[ModelSpec]:
    """The catalog plus the user's local Hugging Face folders; a folder that cannot be read is logged and left out."""
    specs = [*CATALOG, *RNN_CATALOG, TRANSFORMER_EN_ES]
    for model_id, folder in settings.hf_models.items():
        try:
            specs.append(hf_spec(model_id, folder))
        except ValueError as exc:
            logger.error("not serving Hugging Face model %s: %s", model_id, exc)
    return specs


def create_app(settings: Settings | None = None, registry: ModelRegistry | None = None) -> FastAPI:
    settings = settings or get_settings()
    registry = registry or ModelRegistry(declared_models(settings), torch_threads=settings.torch_threads)
    app = FastAPI(title="attnviz", version="0.1.0", description=DESCRIPTION, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.registry = registry
    app.state.inference = InferenceService(
        registry,
        workers=settings.inference_workers,
        max_waiting=settings.max_waiting,
        wait_timeout_s=settings.wait_timeout_s,
        cache_bytes=settings.cache_mb * 1024 * 1024,
    )
    app.state.reference = ReferenceService(settings.reference_priors)
    app.state.templates = Jinja2Templates(directory=settings.templates_dir)

    install_error_handlers(app)

    def body_limit(path: str) -> int:
        uploads = ("/api/attention/image", "/api/attention/audio", "/api/attribution/image", "/api/results/image")
        return settings.max_upload_bytes if path.startswith(uploads) else settings.max_json_body_bytes

    # Level 1: on an 886 kB f16 body level 9 took 48 ms and level 1 27 ms, for a third fewer bytes at most.
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_min_bytes, compresslevel=1)
    app.add_middleware(BodyLimitMiddleware, limit_for_path=body_limit)
    app.add_middleware(SecurityHeadersMiddleware)

    routers = (
        health.router,
        models.router,
        text.router,
        image.router,
        audio.router,
        samples.router,
        concepts.router,
        concepts_lecture.router,
        reports.router,
        heads.router,
        attribution.router,
        results.router,
        pages.router,
    )
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_UI_DIR), name="docs-assets")
    logging.getLogger("app").setLevel(logging.INFO)
    return app


limit_malloc_arenas()  # however the service is started: `attnviz serve` or `uvicorn app.main:app`
app = create_app()
