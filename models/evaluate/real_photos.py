"""The captioners on whole real photos: do they name the main object, and does that word's map point at it?

Photos: the real-photo set of models/data/real_photos.py (photos shipped in packages, each with its main
object's names and hand-drawn boxes); "eval" photos are scored here and never used for a choice, "dev"
photos are reported separately (they may be used for choices, e.g. the confidence threshold).

Per captioner, over the photos whose main object is in the captioners' vocabulary (one of its accepted
names is a scene noun, models/data/scene_objects.py):
- named: the caption (as served: greedy, or the beam search of a config's `beam`) contains an accepted name of
  the main object;
- pointing game (Zhang et al. 2016) on those words: the argmax cell of the map of the step that produced the
  first such word, its centre mapped back to the photo's pixels through the preprocessing record, lies inside
  one of the main object's boxes (the Transformer: its headline layer's mean over heads, `pointing_layer`).
Beside them, on the same photos:
- classifier: EfficientNet-Lite0's own ImageNet top-1 class counts as naming the object when one of the
  object's accepted names covers that class (models/data/imagenet_words.py);
- prototype probe: each noun's prototype is the mean DINOv2 class token (last layer) of its scene pictures
  pasted alone on a grey canvas; the photo's nearest prototype (cosine) names it.

Writes reports/real_photo_eval.json and .md, and the eval-split figures into each captioner's metrics.json
and card. Run: python -m models.evaluate.real_photos [--photos data/real_photos]
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

REPORTS = Path("reports")
MODELS = ("captioner-sat", "captioner-transformer", "captioner-sat-cnn")
TARGETS = {"named": 0.6, "pointing": 0.7}


@dataclass(frozen=True)
class Photo:
    """A real photo: id, split, file, main object's accepted names (first = the noun), its boxes
    (left, top, right, bottom) in the photo's pixels, and a title."""

    id: str
    split: str
    file: Path
    names: tuple[str, ...]
    boxes: tuple[tuple[float, float, float, float], ...]
    title: str


def load_photos(folder: Path) -> list[Photo]:
    """The eval and dev photos of the manifest that `python -m models.data.real_photos` writes in folder."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"{manifest} is missing: run python -m models.data.real_photos (make data does)")
    rows = json.loads(manifest.read_text(encoding="utf-8"))
    rows = rows["photos"] if isinstance(rows, dict) else rows
    photos = []
    for row in rows:
        if row["split"] not in ("eval", "dev") or not row["objects"]:
            continue
        main = row["objects"][0]
        names = tuple(dict.fromkeys([main["name"], *main["synonyms"]]))
        boxes = tuple((float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in main["boxes"])
        photos.append(Photo(row["id"], row["split"], folder / row["file"], names, boxes, row["title"]))
    return photos


def in_vocabulary(photo: Photo, vocabulary: set[str]) -> bool:
    return any(n in vocabulary for n in photo.names)


def cell_centre_in_photo(record: Any, grid: tuple[int, int], cell: int) -> tuple[float, float]:
    """Centre of grid cell `cell` (row-major) in the upright photo's pixels."""
    h, w = grid
    fw, fh = record.final_size
    r, c = divmod(cell, w)
    x, y = (c + 0.5) * fw / w, (r + 0.5) * fh / h  # model-input pixels
    left, top = record.crop_box[0], record.crop_box[1]
    return left + x / record.scale, top + y / record.scale


def inside(point: tuple[float, float], boxes: tuple[tuple[float, float, float, float], ...]) -> bool:
    x, y = point
    return any(left <= x < right and top <= y < bottom for left, top, right, bottom in boxes)


def score_captioner(model: Any, photos: list[Photo]) -> list[dict[str, Any]]:
    """Per photo: caption, confidence, named, pointed (None when not named)."""
    rows = []
    for photo in photos:
        out = model.attend(photo.file.read_bytes())
        words = list(out.tokens or ())
        hit = next((t for t, word in enumerate(words) if word in photo.names), None)
        pointed = None
        if hit is not None:
            spatial = out.spatial[hit]  # (L, H, h, w)
            layer = out.pointing_layer if out.pointing_layer is not None else spatial.shape[0] - 1
            grid_map = spatial[layer].mean(dim=0)  # (h, w)
            cell = int(grid_map.flatten().argmax())
            pointed = inside(cell_centre_in_photo(out.image.record, out.grid, cell), photo.boxes)
        probs = out.caption_probs() or []
        confidence = float(np.exp(np.mean(np.log(np.clip(probs, 1e-9, 1))))) if out.tokens else 0.0
        rows.append(
            {
                "photo": photo.id,
                "caption": out.caption,
                "named": hit is not None,
                "pointed": pointed,
                "confidence": round(confidence, 4),
            }
        )
    return rows


def classifier_names(photos: list[Photo]) -> list[dict[str, Any]]:
    """EfficientNet-Lite0's ImageNet top-1 per photo, and whether an accepted name covers it."""
    from models.data.imagenet_words import noun_classes
    from models.formats.efficientnet_lite import imagenet_classes, load_efficientnet_lite0
    from models.serve.images import preprocess_image

    net = load_efficientnet_lite0()
    rows = []
    for photo in photos:
        pixels = torch.from_numpy(preprocess_image(photo.file.read_bytes()).pixels)[None]
        with torch.inference_mode():
            top = int(net(pixels)[0].argmax())
        covered = any(top in noun_classes(n) for n in photo.names)
        has_classes = any(noun_classes(n) for n in photo.names)  # ImageNet can name it at all
        top1 = imagenet_classes()[top][1].split(",")[0]
        rows.append({"photo": photo.id, "top1": top1, "named": covered, "has_classes": has_classes})
    return rows


def why_missed(entry: dict[str, Any], model_id: str) -> list[str]:
    """One line per photo the captioner does not name, with the evidence it had: whether ImageNet has a class for
    the object at all, and whether the real-photo classifier's own top-1 names it (the decoder then overrode it)."""
    lines = []
    captions = {r["photo"]: r for r in entry["models"][model_id]["per_photo"]}
    for r in entry["classifier"]["per_photo"]:
        row = captions[r["photo"]]
        if row["named"]:
            continue
        said = f'"{row["caption"] or "(empty)"}"'
        if not r.get("has_classes", True):
            why = "no ImageNet class covers it, so the decoder has no classifier evidence for the word"
        elif r["named"]:
            why = f"the classifier's top-1 ({r['top1']}) is evidence for it, but the decoder chose other words"
        else:
            why = f"the classifier does not see it either (top-1: {r['top1']})"
        lines.append(f"- {r['photo']} ({said}): {why}")
    return lines


def prototype_names(photos: list[Photo]) -> list[dict[str, Any]]:
    """The nearest-prototype probe on frozen DINOv2 class tokens (see the module docstring)."""
    from PIL import Image

    from models.data.scene_objects import pictures
    from models.serve.dinov2 import load_dinov2_backbone
    from models.serve.images import preprocess_image

    backbone = load_dinov2_backbone()

    def cls_token(pixels: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            out = backbone(torch.from_numpy(pixels)[None])
        token = out.hidden_states[0, -1, 0]
        return token / token.norm()

    def pasted(source: str) -> np.ndarray:
        from models.data.scenes import styled_sprite

        canvas = Image.new("RGB", (224, 224), (128, 128, 128))
        sprite = styled_sprite(source, 160, False, 0.0, (1.0, 1.0, 1.0))
        canvas.paste(sprite, ((224 - sprite.width) // 2, (224 - sprite.height) // 2), sprite)
        return preprocess_image(_png(canvas)).pixels

    nouns = list(pictures())
    prototypes = torch.stack([torch.stack([cls_token(pasted(p.source)) for p in pictures()[n]]).mean(0) for n in nouns])
    prototypes = prototypes / prototypes.norm(dim=-1, keepdim=True)
    rows = []
    for photo in photos:
        token = cls_token(preprocess_image(photo.file.read_bytes()).pixels)
        best = nouns[int((prototypes @ token).argmax())]
        rows.append({"photo": photo.id, "nearest": best, "named": best in photo.names})
    return rows


def _png(img: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    named = [r for r in rows if r["named"]]
    pointed = [r for r in named if r.get("pointed")]
    result: dict[str, Any] = {
        "photos": len(rows),
        "named": len(named),
        "named_share": round(len(named) / max(1, len(rows)), 4),
    }
    if rows and "pointed" in rows[0]:
        result.update(pointed=len(pointed), pointing=round(len(pointed) / max(1, len(named)), 4) if named else None)
    return result


def evaluate(folder: Path, models: tuple[str, ...], loader: Callable[[str], Any]) -> dict[str, Any]:
    from models.data.scene_objects import vocabulary

    vocab = set(vocabulary())
    photos = load_photos(folder)
    report: dict[str, Any] = {"targets": TARGETS, "splits": {}}
    for split in ("eval", "dev"):
        chosen = [p for p in photos if p.split == split]
        known = [p for p in chosen if in_vocabulary(p, vocab)]
        entry: dict[str, Any] = {
            "photos": len(chosen),
            "in_vocabulary": len(known),
            "outside_vocabulary": [f"{p.id} ({p.names[0]})" for p in chosen if not in_vocabulary(p, vocab)],
            "models": {},
        }
        for model_id in models:
            try:
                model = loader(model_id)
            except (FileNotFoundError, ValueError) as err:
                log.warning("skipping %s: %s", model_id, err)
                continue
            rows = score_captioner(model, known)
            entry["models"][model_id] = {**summary(rows), "per_photo": rows}
            log.info("%s %s: %s", split, model_id, summary(rows))
        classifier = classifier_names(known)
        entry["classifier"] = {**summary(classifier), "per_photo": classifier}
        probe = prototype_names(known)
        entry["prototype_probe"] = {**summary(probe), "per_photo": probe}
        report["splits"][split] = entry
    return report


def markdown(report: dict[str, Any], command: str) -> str:
    lines = [
        "# Captioners on real photos",
        "",
        "Whole real photos shipped in packages (models/data/real_photos.py), never used to train or choose "
        "anything (the eval split); captions decoded as served (greedy unless a captioner's config sets a beam, "
        "chosen on dev photos and validation scenes: reports/decoding_choice.md). Named: the caption contains an "
        "accepted name of the "
        "photo's main object. Pointing: the map of that word's step has its argmax cell inside the object's "
        f"hand-drawn box. Targets: best captioner named >= {TARGETS['named']:.0%}, pointing >= "
        f"{TARGETS['pointing']:.0%} of those. Reproduce: `{command}`.",
        "",
    ]
    for split, entry in report["splits"].items():
        lines += [
            f"## {split} photos: {entry['in_vocabulary']} of {entry['photos']} have their main object in the "
            "vocabulary",
            "",
            "| system | named | pointing |",
            "|---|---|---|",
        ]
        for model_id, m in entry["models"].items():
            pointing = "-" if m.get("pointing") is None else f"{m['pointed']}/{m['named']} = {m['pointing']:.0%}"
            lines.append(f"| {model_id} | {m['named']}/{m['photos']} = {m['named_share']:.0%} | {pointing} |")
        for name in ("classifier", "prototype_probe"):
            m = entry[name]
            lines.append(f"| {name.replace('_', ' ')} | {m['named']}/{m['photos']} = {m['named_share']:.0%} | - |")
        lines += [
            "",
            "| photo | " + " | ".join(entry["models"]) + " | classifier top-1 | probe |",
            "|---|" + "---|" * (len(entry["models"]) + 2),
        ]
        by_photo: dict[str, list[str]] = {}
        for m in entry["models"].values():
            for r in m["per_photo"]:
                mark = "named" + (", points" if r["pointed"] else ", misses") if r["named"] else "not named"
                by_photo.setdefault(r["photo"], []).append(f"{r['caption'] or '(empty)'} ({mark})")
        for r, p in zip(entry["classifier"]["per_photo"], entry["prototype_probe"]["per_photo"], strict=True):
            cells = by_photo.get(r["photo"], [])
            lines.append(f"| {r['photo']} | " + " | ".join(cells) + f" | {r['top1']} | {p['nearest']} |")
        if entry["models"]:
            best = max(entry["models"], key=lambda k: entry["models"][k]["named"])
            missed = why_missed(entry, best)
            if missed:
                lines += ["", f"Why the best captioner ({best}) misses {len(missed)} photos:", "", *missed]
        if entry["outside_vocabulary"]:
            lines += ["", "Main object outside the vocabulary (not scored): " + ", ".join(entry["outside_vocabulary"])]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=Path("data/real_photos"))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    from models.serve.captioner import load_captioner

    report = evaluate(args.photos, tuple(args.models), load_captioner)
    command = f"python -m models.evaluate.real_photos --photos {args.photos}"
    report["command"] = command
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "real_photo_eval.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "real_photo_eval.md").write_text(markdown(report, command))
    log.info("wrote %s", args.out / "real_photo_eval.json")
    from models.serve.captioner import WEIGHTS_DIR
    from models.train.cards import write_captioner_card

    for model_id, scores in report["splits"]["eval"]["models"].items():
        folder = WEIGHTS_DIR / model_id
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics["real_photos"] = {k: v for k, v in scores.items() if k != "per_photo"}
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        write_captioner_card(folder)


if __name__ == "__main__":
    main()
