"""Writes one named section of reports/bench.md (between HTML comment markers) and its JSON beside it, so the
Ray benchmarks add their figures after `python -m benchmarks.bench` without touching the other sections."""

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def write_section(name: str, markdown: str, data: dict[str, Any]) -> None:
    """Replace (or append) the section `name` of reports/bench.md; write reports/bench_<name>.json."""
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    path = REPORTS / "bench.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    stamped = f"{start}\n{markdown.rstrip()}\n\n_Measured {when} on {machine()}._\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + stamped + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + ("\n\n" if text else "") + stamped + "\n"
    path.write_text(text, encoding="utf-8")
    (REPORTS / f"bench_{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
