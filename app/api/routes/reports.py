"""Evaluation reports written by `make eval` (reports/*.json), served as they are for the /eval page."""

import json
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException

from app.api.deps import SettingsDep
from app.schemas import ErrorResponse

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/reports", tags=["reports"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "The report has not been written yet."},
    500: {"model": ErrorResponse, "description": "The report file cannot be read."},
}


def read_report(folder: Path, name: str, writer: str) -> dict[str, Any]:
    """The JSON object in folder/name, or an HTTPException a user can act on."""
    path = folder / name
    if not path.is_file():
        raise HTTPException(404, detail=f"No report yet: run `{writer}` to write reports/{name}.")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.error("cannot read %s: %s", path, exc)
        raise HTTPException(500, detail=f"reports/{name} cannot be read; run `{writer}` again.") from None
    if not isinstance(report, dict):
        raise HTTPException(500, detail=f"reports/{name} is not a JSON object; run `{writer}` again.")
    return report


@router.get("/translation", responses=ERRORS)
def translation_report(settings: SettingsDep) -> dict[str, Any]:
    """Test-split BLEU, chrF, BLEU by source length and attention AER of the EN-ES models, plus eflomal."""
    return read_report(settings.reports_dir, "translation_eval.json", "make eval")


@router.get("/captions", responses=ERRORS)
def caption_report(settings: SettingsDep) -> dict[str, Any]:
    """Test-scene BLEU-4 and pointing-game scores of the captioners."""
    return read_report(settings.reports_dir, "caption_eval.json", "make eval")
