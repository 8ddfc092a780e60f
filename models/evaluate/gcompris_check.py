"""A second look at real photos: the served captioners on the 106 labelled GCompris photos
(models/data/gcompris_photos.py) -> reports/gcompris_check.{json,md}.

These photos are not the issue's real-photo set (models/data/real_photos.py) and no served model was trained on them
(the one decoder trained on crops of them was rejected: reports/photo_scenes_choice.md). They were a check first, then
became dev data: captioner-sat-cnn's served decoding option, confident evidence, was chosen on them and the 24 dev
photos (reports/confident_evidence_choice.md; before it the served decoder named 59 of the 106), so its figure here
is no longer an independent check. Most show one animal or thing large, many against plain or natural backgrounds.
Named: the caption, as served, contains the photo's noun (no synonyms: every noun is a vocabulary word, and "bird"
is not named by "a parrot"); the classifier row: EfficientNet-Lite0's ImageNet top-1 class is one of the noun's classes
(models/data/imagenet_words.py). No boxes were drawn on these photos, so pointing is not scored. Per noun and
overall: the share of photos (28 fish photos weigh 28 times one kitten) and the mean over the 45 nouns of each
noun's share.
Run: python -m models.evaluate.gcompris_check [--photos data/gcompris]
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from models.data.gcompris_photos import DEFAULT_OUT
from models.evaluate.real_photos import MODELS, REPORTS, Photo, classifier_names, score_captioner, summary

log = logging.getLogger(__name__)


def load(folder: Path) -> list[Photo]:
    """The labelled photos the builder wrote to folder, each with its noun as its only name and no box."""
    index = folder / "photos.json"
    if not index.is_file():
        raise SystemExit(f"{index} is missing: run python -m models.data.gcompris_photos")
    rows = json.loads(index.read_text())
    return [Photo(r["key"], "check", folder / f"{r['key']}.png", (r["noun"],), (), r["source"]) for r in rows]


def markdown(report: dict[str, Any]) -> str:
    doc = (__doc__ or "").split("\n\n")[1].split("\nRun:")[0]
    systems = list(report["systems"])
    lines = ["# The served captioners on 106 other real photos (GCompris)", "", doc, ""]
    lines += ["| system | photos named | mean over the nouns |", "|---|---|---|"]
    for name in systems:
        s = report["systems"][name]
        lines.append(f"| {name} | {s['named']}/{s['photos']} = {s['named_share']:.0%} | {s['noun_mean']:.0%} |")
    lines += ["", "| noun | photos | " + " | ".join(systems) + " |", "|---|---|" + "---|" * len(systems)]
    for noun, row in sorted(report["by_noun"].items()):
        lines.append(f"| {noun} | {row['photos']} | " + " | ".join(str(row[name]) for name in systems) + " |")
    lines += ["", f"Reproduce: `{report['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    from models.serve.captioner import load_captioner

    photos = load(args.photos)
    rows: dict[str, list[dict[str, Any]]] = {}
    for model_id in args.models:
        rows[model_id] = score_captioner(load_captioner(model_id), photos)
        log.info("%s: %s", model_id, summary(rows[model_id]))
    rows["classifier"] = classifier_names(photos)
    by_noun: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for photo in photos:
        by_noun[photo.names[0]]["photos"] += 1
    for name, per_photo in rows.items():
        for photo, row in zip(photos, per_photo, strict=True):
            by_noun[photo.names[0]][name] += int(row["named"])
    systems = {name: {k: v for k, v in summary(r).items() if "point" not in k} for name, r in rows.items()}
    for name, entry in systems.items():  # each noun's share of its photos named, averaged over the nouns
        entry["noun_mean"] = round(sum(c[name] / c["photos"] for c in by_noun.values()) / len(by_noun), 4)
    report = {
        "command": f"python -m models.evaluate.gcompris_check --photos {args.photos}",
        "systems": systems,
        "by_noun": {noun: dict(counts) for noun, counts in by_noun.items()},
        "per_photo": {name: [{**r, "noun": p.names[0]} for p, r in zip(photos, per, strict=True)]
                      for name, per in rows.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gcompris_check.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "gcompris_check.md").write_text(markdown(report))
    log.info("wrote %s", args.out / "gcompris_check.md")


if __name__ == "__main__":
    main()
