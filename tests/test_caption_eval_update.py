"""`python -m models.evaluate.captions --update`: rescoring some captioners keeps the other rows of the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.evaluate.captions import merge_results

COMMAND = "python -m models.evaluate.captions --scenes data/scenes"


def write_report(path: Path, command: str, rows: list[dict]) -> Path:
    path.write_text(json.dumps({"command": command, "results": rows}))
    return path


def test_update_replaces_only_the_rescored_rows_in_place(tmp_path: Path) -> None:
    old = [{"model": "captioner-sat", "bleu4": 60.0}, {"model": "captioner-sat-cnn", "bleu4": 50.0}]
    path = write_report(tmp_path / "caption_eval.json", COMMAND, old)
    merged = merge_results(path, [{"model": "captioner-sat-cnn", "bleu4": 52.0}], COMMAND)
    assert merged == [{"model": "captioner-sat", "bleu4": 60.0}, {"model": "captioner-sat-cnn", "bleu4": 52.0}]


def test_update_appends_a_model_the_report_lacks(tmp_path: Path) -> None:
    path = write_report(tmp_path / "caption_eval.json", COMMAND, [{"model": "captioner-sat", "bleu4": 60.0}])
    merged = merge_results(path, [{"model": "captioner-transformer", "bleu4": 57.0}], COMMAND)
    assert [r["model"] for r in merged] == ["captioner-sat", "captioner-transformer"]


def test_update_refuses_a_report_made_from_other_scenes(tmp_path: Path) -> None:
    path = write_report(tmp_path / "caption_eval.json", COMMAND.replace("data/scenes", "/tmp/x"), [])
    with pytest.raises(SystemExit, match="rerun every model"):
        merge_results(path, [{"model": "captioner-sat", "bleu4": 1.0}], COMMAND)
