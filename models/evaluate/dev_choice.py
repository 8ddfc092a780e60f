"""What the captioner choices made on dev data share (face_cues_choice, evidence_gain_choice, more_scenes_choice,
closeup_choice, seed_choice): one candidate decoder scored on the real-photo dev split and the validation scenes,
and the report's table.

A candidate is a weights folder (model.safetensors, vocab.json and its config.json); its row holds the dev photos
it names (models/evaluate/real_photos.py), their captions, and its validation BLEU-4 and pointing
(models/evaluate/captions.py). Test scenes and evaluation photos are never read here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from models.data.scene_objects import vocabulary
from models.data.scenes import DEFAULT_OUT, Scene
from models.evaluate.captions import evaluate_model
from models.evaluate.real_photos import Photo, in_vocabulary, load_photos, score_captioner, summary
from models.serve.captioner import load_captioner

REPORTS = Path(__file__).resolve().parents[2] / "reports"
Rows = dict[str, dict[str, Any]]  # candidate -> its row (score_folder)
Scorer = Callable[[Path, Path], Rows]  # (photos, scenes) -> rows
HEADER = "dev photos named | dev pointing | val BLEU-4 | val pointing |"


def dev_photos(photos: Path) -> list[Photo]:
    """The real-photo dev split's photos whose main object is in the captioners' vocabulary."""
    return [p for p in load_photos(photos) if p.split == "dev" and in_vocabulary(p, set(vocabulary()))]


def score_folder(folder: Path, dev: list[Photo], val: list[Scene], features: Any) -> dict[str, Any]:
    """One candidate's row: the decoder in `folder` (named as its model id) on the dev photos and the validation
    scenes (features: what the decoder reads for those scenes)."""
    named = score_captioner(load_captioner(folder.name, folder), dev)
    with torch.inference_mode():
        scored = evaluate_model(folder, val, features)
    total = summary(named)
    return {
        "dev_named": total["named"],
        "dev_photos": total["photos"],
        "dev_pointing": total.get("pointing"),
        "dev_named_ids": [r["photo"] for r in named if r["named"]],
        "dev_captions": {r["photo"]: r["caption"] for r in named},
        "val_bleu4": scored["bleu4"],
        "val_pointing": scored["pointing"],
        "val_scenes": len(val),
    }


@contextlib.contextmanager
def variant_folder(weights: Path, config: dict[str, Any]) -> Iterator[Path]:
    """A temporary copy of the weights folder `weights` with this config.json, named as the config's model id (else
    as `weights`), removed on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / config.get("model_id", weights.name)
        folder.mkdir()
        for name in ("model.safetensors", "vocab.json"):
            shutil.copy(weights / name, folder / name)
        (folder / "config.json").write_text(json.dumps(config))
        yield folder


def score_variant(weights: Path, config: dict[str, Any], dev: list[Photo], val: list[Scene], features: Any) -> Any:
    """score_folder on the weights decoded with this config.json (variant_folder)."""
    with variant_folder(weights, config) as folder:
        return score_folder(folder, dev, val, features)


def table(rows: dict[str, dict[str, Any]], first: str, labels: dict[str, str] | None = None) -> list[str]:
    """The markdown table of the candidates' rows, `first` naming the candidate column."""
    lines = [f"| {first} | {HEADER}", "|---|---|---|---|---|"]
    for key, r in rows.items():
        pointing = "-" if r["dev_pointing"] is None else f"{r['dev_pointing']}"
        named = f"{r['dev_named']}/{r['dev_photos']}"
        label = (labels or {}).get(key, key)
        lines.append(f"| {label} | {named} | {pointing} | {r['val_bleu4']} | {r['val_pointing']} |")
    return lines


def changed_captions(before: dict[str, str], after: dict[str, str], heading: str) -> list[str]:
    """Markdown lines listing the dev photos whose caption differs between two candidates (none: no lines)."""
    changed = [(photo, before[photo], caption) for photo, caption in after.items() if caption != before[photo]]
    if not changed:
        return []
    return ["", heading, "", *(f'- {photo}: "{was}" -> "{now}"' for photo, was, now in changed)]


def choice_parser(description: str) -> argparse.ArgumentParser:
    """The command line of a choice that can write into the weights' config.json and reuse its last rows."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--photos", type=Path, default=Path("data/real_photos"))
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--write", action="store_true", help="write the choice into the weights' config.json")
    parser.add_argument("--reuse", action="store_true", help="apply the rule to the last report's rows, no scoring")
    return parser


def write_report(stem: str, report: dict[str, Any], markdown: str) -> None:
    """reports/<stem>.json and reports/<stem>.md."""
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (REPORTS / f"{stem}.md").write_text(markdown)


def write_config(path: Path, config: dict[str, Any]) -> None:
    """A weights folder's config.json, as the trainer writes it."""
    path.write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n")


def choice_rows(stem: str, argv: Sequence[str] | None, doc: str, score: Scorer) -> tuple[argparse.Namespace, Rows]:
    """Parse a choice's command line and give its rows: scored (one thread) or, with --reuse, the last report's."""
    args = choice_parser(doc.splitlines()[0]).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    if args.reuse:
        return args, json.loads((REPORTS / f"{stem}.json").read_text())["rows"]
    return args, score(args.photos, args.scenes)


def report_of(stem: str, model: str, rows: Rows, chosen: str, write: bool) -> dict[str, Any]:
    """The report of a choice module (models.evaluate.<stem>) for this model id over its rows."""
    command = f"python -m models.evaluate.{stem}" + (" --write" if write else "")
    return {"model": model, "rows": rows, "chosen": chosen, "command": command}
