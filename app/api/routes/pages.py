"""HTML pages and the vendored front-end files they need (all served locally, no CDN)."""

import importlib.util
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)

# Located without importing plotly's Python side, which the service never uses.
PLOTLY_ORIGIN = getattr(importlib.util.find_spec("plotly"), "origin", None) or "plotly-not-installed/x"
PLOTLY_JS = Path(PLOTLY_ORIGIN).parent / "package_data" / "plotly.min.js"


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """The text attention page."""
    return request.app.state.templates.TemplateResponse(request, "index.html", {"page": "text"})


@router.get("/image", response_class=HTMLResponse)
def image_page(request: Request) -> HTMLResponse:
    """The image attention page."""
    return request.app.state.templates.TemplateResponse(request, "image.html", {"page": "image"})


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request) -> HTMLResponse:
    """One sentence through several translation models, side by side."""
    return request.app.state.templates.TemplateResponse(request, "compare.html", {"page": "compare"})


@router.get("/concepts", response_class=HTMLResponse)
def concepts_page(request: Request) -> HTMLResponse:
    """How attention works: live demonstrations."""
    return request.app.state.templates.TemplateResponse(request, "concepts.html", {"page": "concepts"})


@router.get("/eval", response_class=HTMLResponse)
def eval_page(request: Request) -> HTMLResponse:
    """Test-split scores of the translation models: BLEU by length, attention AER against eflomal."""
    return request.app.state.templates.TemplateResponse(request, "eval.html", {"page": "eval"})


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """Swagger UI from the fastapi-offline package, started by a static script."""
    return request.app.state.templates.TemplateResponse(request, "docs.html", {"page": "docs"})


@router.get("/vendor/plotly.min.js")
def plotly_js() -> FileResponse:
    """Plotly.js from the installed plotly package."""
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
