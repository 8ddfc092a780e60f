"""Stored corpus analyses (written by `attnviz analyze`, app.scale): list them and read one summary.

An analysis is a folder under reports/heads/ holding summary.json (what the API serves) and
heads.parquet (every sentence x head, for notebooks; never read here). Names come from users, so a
name must match NAME_PATTERN and is looked up among the folders, never joined into a path as it is.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
LISTED = ("model", "corpus", "corpus_description", "sentences", "created")  # summary fields the list shows


class AnalysisNotFoundError(LookupError):
    """No stored analysis has this name."""


class AnalysisUnreadableError(RuntimeError):
    """The analysis exists but its summary.json cannot be read; str() says which file."""


def _folders(root: Path) -> dict[str, Path]:
    """Analysis name -> its summary.json, for every folder of root that has one."""
    if not root.is_dir():
        return {}
    return {p.parent.name: p for p in sorted(root.glob("*/summary.json")) if re.match(NAME_PATTERN, p.parent.name)}


def read_summary(root: Path, name: str) -> dict[str, Any]:
    """The summary of analysis `name`; AnalysisNotFoundError or AnalysisUnreadableError."""
    path = _folders(root).get(name) if re.match(NAME_PATTERN, name) else None
    if path is None:
        raise AnalysisNotFoundError(name)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.error("cannot read %s: %s", path, exc)
        raise AnalysisUnreadableError(f"reports/heads/{name}/summary.json") from None
    if not isinstance(summary, dict):
        raise AnalysisUnreadableError(f"reports/heads/{name}/summary.json")
    return summary


def list_analyses(root: Path) -> list[dict[str, Any]]:
    """Name, model, corpus, size and kinds of every readable analysis under root (unreadable ones are logged)."""
    found = []
    for name in _folders(root):
        try:
            summary = read_summary(root, name)
            kinds = [str(k["kind"]) for k in summary["kinds"]]
            found.append({"name": name, **{key: summary[key] for key in LISTED}, "kinds": kinds})
        except (AnalysisUnreadableError, KeyError, TypeError) as exc:
            logger.error("skipping analysis %s: %s", name, exc)
    return found
