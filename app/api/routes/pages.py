"""HTML pages and the vendored front-end files they need (all served locally, no CDN)."""

import importlib.util
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)

# Located without importing plotly's Python side, which the service never uses.
PLOTLY_ORIGIN = getattr(importlib.util.find_spec("plotly"), "origin", None) or "plotly-not-installed/x"
PLOTLY_JS = Path(PLOTLY_ORIGIN).parent / "package_data" / "plotly.min.js"


PAGES = (  # (path, template, page name for the nav, what the page is)
    ("/", "index.html", "text", "The text attention page."),
    ("/image", "image.html", "image", "The image attention page."),
    ("/audio", "audio.html", "audio", "Speech: Whisper's cross-attention over the audio and the words it times."),
    ("/compare", "compare.html", "compare", "One sentence through several translation models, side by side."),
    ("/concepts", "concepts.html", "concepts", "How attention works: live demonstrations."),
    ("/eval", "eval.html", "eval", "Test-split scores of the translation models: BLEU by length, attention AER."),
    ("/heads", "heads.html", "heads", "Every head of a model over a corpus: statistics grid, top sentences, clusters."),
    ("/docs", "docs.html", "docs", "Swagger UI from the fastapi-offline package, started by a static script."),
)


def page_route(template: str, page: str, summary: str) -> Callable[[Request], HTMLResponse]:
    """A handler that renders one Jinja2 template."""

    def render(request: Request) -> HTMLResponse:
        return request.app.state.templates.TemplateResponse(request, template, {"page": page})

    render.__doc__ = summary
    return render


for _path, _template, _page, _summary in PAGES:
    router.add_api_route(_path, page_route(_template, _page, _summary), methods=["GET"], response_class=HTMLResponse)


@router.get("/vendor/plotly.min.js")
def plotly_js() -> FileResponse:
    """Plotly.js from the installed plotly package."""
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
