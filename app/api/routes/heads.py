"""Stored corpus analyses of attention heads (`attnviz analyze` writes them under reports/heads/)."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import ValidationError

from app.api.deps import SettingsDep
from app.api.routes.heads_schemas import HeadAnalysis, HeadAnalysisInfo
from app.schemas import ErrorResponse
from app.services.heads import (
    NAME_PATTERN,
    AnalysisNotFoundError,
    AnalysisUnreadableError,
    list_analyses,
    read_summary,
)

router = APIRouter(prefix="/api/heads", tags=["heads"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No stored analysis has this name."},
    422: {"model": ErrorResponse, "description": "The name is not a valid analysis name."},
    500: {"model": ErrorResponse, "description": "The analysis file cannot be read."},
}
Name = Annotated[str, Path(pattern=NAME_PATTERN, examples=["minilm-l6-mix-dev"], description="analysis name")]


@router.get("", response_model=list[HeadAnalysisInfo])
def analyses(settings: SettingsDep) -> list[dict[str, Any]]:
    """Every stored corpus analysis of attention heads."""
    return list_analyses(settings.reports_dir / "heads")


@router.get("/{name}", response_model=HeadAnalysis, responses=ERRORS)
def analysis(name: Name, settings: SettingsDep) -> HeadAnalysis:
    """One stored analysis: per-head statistics, the sentences where each head shows them most, clusters."""
    try:
        return HeadAnalysis.model_validate(read_summary(settings.reports_dir / "heads", name))
    except AnalysisNotFoundError:
        raise HTTPException(404, detail=f"No analysis named {name!r}; GET /api/heads lists them.") from None
    except (AnalysisUnreadableError, ValidationError):
        raise HTTPException(
            500, detail=f"reports/heads/{name}/summary.json cannot be read; run `attnviz analyze` again."
        ) from None
