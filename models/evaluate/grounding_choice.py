"""Choosing the attention grounding weight of captioner-sat-cnn on validation scenes and dev photos only
-> reports/grounding_choice.{json,md}.

Candidates are weight folders of the same trainer command with different --grounding LAMBDA (0 = the shipped
model). Each is scored on the composed scenes' validation split (greedy BLEU-4 and the strict pointing game,
models/evaluate/captions.py) and on the real-photo dev split (named and pointing, models/evaluate/real_photos.py).
The test scenes and the evaluation photos play no part.

Rule, fixed before any candidate was trained: among candidates with validation BLEU-4 >= 50 that name at least as
many dev photos as LAMBDA = 0, the one with the highest validation pointing is chosen; it replaces the shipped
model only if that pointing beats the shipped model's.

Run: python -m models.evaluate.grounding_choice --candidate 0=models/weights/captioner-sat-cnn \
         --candidate 1.0=checkpoints/ground-1.0/weights/captioner-sat-cnn [...]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import torch

from models.data.scenes import DEFAULT_OUT, load_scenes

log = logging.getLogger(__name__)

MODEL_ID = "captioner-sat-cnn"
MIN_BLEU = 50.0


def score_candidate(folder: Path, scenes_dir: Path, photos_dir: Path) -> dict[str, Any]:
    from models.data.scene_features import load_features
    from models.data.scene_objects import vocabulary
    from models.evaluate.captions import evaluate_model
    from models.evaluate.real_photos import in_vocabulary, load_photos, score_captioner, summary
    from models.serve.captioner import load_captioner

    layer = json.loads((folder / "config.json").read_text()).get("feature_layer")
    with torch.inference_mode():
        scenes = load_scenes(scenes_dir, "val")
        val = evaluate_model(folder, scenes, load_features(scenes_dir, layer, [s.id for s in scenes]))
    vocab = set(vocabulary())
    dev = [p for p in load_photos(photos_dir) if p.split == "dev" and in_vocabulary(p, vocab)]
    rows = score_captioner(load_captioner(MODEL_ID, folder), dev)
    return {
        "val_bleu4": round(float(val["bleu4"]), 2),
        "val_pointing": round(float(val["pointing"]), 4),
        "dev_photos": summary(rows),
        "dev_captions": {r["photo"]: r["caption"] for r in rows},
    }


def choose(candidates: dict[str, dict[str, Any]]) -> str | None:
    """The rule of the module docstring: the chosen LAMBDA, or None when the shipped model (LAMBDA 0) stays."""
    base = candidates["0"]
    eligible = {
        k: c
        for k, c in candidates.items()
        if c["val_bleu4"] >= MIN_BLEU and c["dev_photos"]["named"] >= base["dev_photos"]["named"]
    }
    if not eligible:
        return None
    best = max(eligible, key=lambda k: eligible[k]["val_pointing"])
    return best if best != "0" and eligible[best]["val_pointing"] > base["val_pointing"] else None


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# {MODEL_ID}: choosing the attention grounding weight",
        "",
        "Validation scenes and real-photo dev photos only; the test scenes and evaluation photos play no part. "
        f"Made by `{report['command']}`.",
        "",
        "| LAMBDA | val BLEU-4 | val pointing | dev photos named | dev pointing |",
        "|---|---|---|---|---|",
    ]
    for k, c in report["candidates"].items():
        d = c["dev_photos"]
        lines.append(
            f"| {k} | {c['val_bleu4']} | {c['val_pointing']} | {d['named']}/{d['photos']} | "
            f"{d.get('pointed', '-')}/{d['named']} |"
        )
    chosen = report["chosen"]
    lines += [
        "",
        "Rule, fixed before any candidate was trained: among candidates with validation BLEU-4 >= 50 naming at least "
        "as many dev photos as LAMBDA = 0, the highest validation pointing; it replaces the shipped model only if "
        "that pointing beats the shipped model's. "
        + (f"Chosen: LAMBDA = {chosen}." if chosen else "The shipped model (LAMBDA = 0) stays."),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", action="append", required=True, metavar="LAMBDA=FOLDER")
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--photos", type=Path, default=Path("data/real_photos"))
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--name", default="grounding_choice", help="report file stem: <out>/<name>.{json,md}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    folders = {k: Path(v) for k, v in (item.split("=", 1) for item in args.candidate)}
    folders = {str(float(k)) if float(k) else "0": v for k, v in folders.items()}
    if "0" not in folders:
        raise SystemExit("one candidate must be 0=<the shipped model's folder>")
    candidates = {}
    for k, folder in folders.items():
        candidates[k] = score_candidate(folder, args.scenes, args.photos)
        log.info("LAMBDA %s: %s", k, {n: v for n, v in candidates[k].items() if n != "dev_captions"})
    command = "python -m models.evaluate.grounding_choice " + " ".join(f"--candidate {c}" for c in args.candidate)
    if args.name != "grounding_choice":
        command += f" --name {args.name}"
    report = {"command": command, "candidates": candidates, "chosen": choose(candidates)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(report))


if __name__ == "__main__":
    main()
