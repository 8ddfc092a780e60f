"""Which decoding a captioner is served with: greedy or beam search, chosen on dev photos and validation scenes
-> reports/decoding_choice.{json,md}; with --write, the chosen beam goes into the weights' config.json (`beam`).

The rule, fixed before any figure was read: each beam of --beams is scored on the real-photo dev split (photos
whose main object is named, as models/evaluate/real_photos.py counts it) and on the validation scenes (BLEU-4 and
the pointing game, as models/evaluate/captions.py scores them). The chosen beam is the smallest one naming the
most dev photos among those whose validation BLEU-4 and pointing are not below greedy decoding's; greedy (1)
when no wider beam names more dev photos than greedy does. Test scenes and evaluation photos are not read.
Run: python -m models.evaluate.decoding_choice [--models captioner-sat-cnn] [--beams 1 3 5] [--write]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from models.data.scene_features import load_features
from models.data.scene_objects import vocabulary
from models.data.scenes import DEFAULT_OUT, load_scenes
from models.evaluate.captions import evaluate_model
from models.evaluate.real_photos import in_vocabulary, load_photos, score_captioner, summary
from models.serve.captioner import WEIGHTS_DIR, load_captioner

log = logging.getLogger(__name__)
REPORTS = Path(__file__).resolve().parents[2] / "reports"


def choose(rows: dict[int, dict[str, Any]]) -> int:
    """The rule of the module docstring over {beam: {"dev_named", "val_bleu4", "val_pointing"}}."""
    greedy = rows[1]
    allowed = [
        b
        for b, r in rows.items()
        if r["val_bleu4"] >= greedy["val_bleu4"] and r["val_pointing"] >= greedy["val_pointing"]
    ]
    best = max(rows[b]["dev_named"] for b in allowed)
    return 1 if best <= greedy["dev_named"] else min(b for b in allowed if rows[b]["dev_named"] == best)


def score(model_id: str, beams: Sequence[int], photos: Path, scenes: Path) -> dict[int, dict[str, Any]]:
    folder = WEIGHTS_DIR / model_id
    model = load_captioner(model_id)
    dev = [p for p in load_photos(photos) if p.split == "dev" and in_vocabulary(p, set(vocabulary()))]
    val = load_scenes(scenes, "val")
    layer = json.loads((folder / "config.json").read_text()).get("feature_layer")
    features = load_features(scenes, layer, [s.id for s in val])  # validation scenes only
    rows: dict[int, dict[str, Any]] = {}
    for beam in beams:
        model.beam = beam
        named = summary(score_captioner(model, dev))
        with torch.inference_mode():
            scored = evaluate_model(folder, val, features, beam=beam)
        rows[beam] = {
            "dev_named": named["named"],
            "dev_photos": named["photos"],
            "dev_pointing": named.get("pointing"),
            "val_bleu4": scored["bleu4"],
            "val_pointing": scored["pointing"],
            "val_scenes": len(val),
        }
        log.info("%s beam %d: %s", model_id, beam, rows[beam])
    return rows


def markdown(report: dict[str, Any]) -> str:
    rule = __doc__.split("\n\n")[1].split("\nRun:")[0]
    lines = ["# Decoding choice (dev photos and validation scenes only)", "", rule, ""]
    for model_id, entry in report["models"].items():
        lines += [
            f"## {model_id}: beam {entry['chosen']}",
            "",
            "| beam | dev photos named | dev pointing | val BLEU-4 | val pointing |",
            "|---|---|---|---|---|",
        ]
        for beam, r in entry["beams"].items():
            lines.append(
                f"| {beam} | {r['dev_named']}/{r['dev_photos']} | {r['dev_pointing']} | {r['val_bleu4']} "
                f"| {r['val_pointing']} |"
            )
        lines.append("")
    lines.append(f"Command: `{report['command']}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["captioner-sat-cnn"])
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--photos", type=Path, default=Path("data/real_photos"))
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--write", action="store_true", help="set the chosen beam in each model's config.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    beams = sorted({1, *args.beams})
    report: dict[str, Any] = {
        "command": " ".join(["python -m models.evaluate.decoding_choice", *(sys.argv[1:] if argv is None else argv)]),
        "models": {},
    }
    for model_id in args.models:
        rows = score(model_id, beams, args.photos, args.scenes)
        chosen = choose(rows)
        report["models"][model_id] = {"chosen": chosen, "beams": rows}
        if args.write:
            path = WEIGHTS_DIR / model_id / "config.json"
            config = json.loads(path.read_text())
            config.update(beam=chosen, beam_chosen_on="reports/decoding_choice.md (dev photos, validation scenes)")
            path.write_text(json.dumps(config, indent=1) + "\n")
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "decoding_choice.json").write_text(json.dumps(report, indent=1) + "\n")
    (REPORTS / "decoding_choice.md").write_text(markdown(report))


if __name__ == "__main__":
    main()
