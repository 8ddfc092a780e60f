"""Which samples the image page offers: the evaluation photos and held-out scenes the best captioner gets right.

The image page's gallery is where a student first sees captioning with attention, so it offers cases where it
works, and says plainly that it is a selection: every evaluation photo, the misses included, is listed on /eval
with its caption, and the real-photo figure (reports/real_photo_eval.md) is stated beside the gallery.

The rule, fixed before it was run:
- the best captioner is the one that names the most evaluation photos in reports/real_photo_eval.json;
- every evaluation photo of the real-photo table (models/data/real_photos.py) is captioned by it from the file's
  own bytes, exactly what the page uploads (GET /api/samples/{name} serves those bytes unchanged);
- a photo whose main object is in the vocabulary is offered when the caption contains one of its accepted names
  (the same test as the evaluation's); a photo whose main object is outside the vocabulary is offered, marked so
  (the vision backbones' maps need no caption);
- scenes: the held-out test scenes (data/scenes, split "test") in id order; per object count (1, 2, 3) the first
  SCENES_PER_COUNT whose caption names every object.
Nothing here trains or chooses anything about a model: it chooses what the page shows, and reports the rest.

Writes reports/gallery.json and .md. Run: python -m models.evaluate.gallery [--photos data/real_photos]
[--scenes data/scenes]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPORTS = Path("reports")
SCENES_PER_COUNT = 2  # offered scenes per object count: 2 x (1, 2, 3 objects) = 6


def says(caption: str, words: Iterable[str]) -> bool:
    """Whether the caption contains one of the words (each one or more whole words)."""
    padded = f" {caption} "
    return any(f" {w} " in padded for w in words)


def best_captioner(real_photo_report: dict[str, Any]) -> str:
    """The captioner that names the most evaluation photos (the first listed on a tie)."""
    models = real_photo_report["splits"]["eval"]["models"]
    if not models:
        raise ValueError("the real-photo report scores no captioner")
    return max(models, key=lambda k: models[k]["named"])


def photo_rows(
    photos: list[Any], folder: Path, caption: Callable[[bytes], str], vocab: set[str]
) -> list[dict[str, Any]]:
    """Per evaluation photo (models.data.real_photos.RealPhoto): its caption and whether it is offered."""
    rows = []
    for p in photos:
        main = p.objects[0]
        known = any(w in vocab for w in main.synonyms)
        text = caption((folder / p.filename).read_bytes())
        named = says(text, main.synonyms)
        rows.append({"id": p.id, "title": p.title, "expect": main.name, "synonyms": list(main.synonyms),
                     "in_vocabulary": known, "caption": text, "named": named, "offered": named or not known})
    return rows


def scene_choice(scenes: list[Any], caption: Callable[[Any], str]) -> dict[str, Any]:
    """The first SCENES_PER_COUNT test scenes per object count whose caption (caption(scene)) names every object,
    and the ones passed over on the way (with their captions)."""
    offered: dict[int, list[int]] = {}
    skipped = []
    counts = {len(s.objects) for s in scenes}
    for scene in sorted(scenes, key=lambda s: s.id):
        chosen = offered.setdefault(len(scene.objects), [])
        if len(chosen) >= SCENES_PER_COUNT:
            if all(len(offered.get(n, [])) >= SCENES_PER_COUNT for n in counts):
                break
            continue
        text = caption(scene)
        names = [o.name for o in scene.objects]
        if all(says(text, [n]) for n in names):
            chosen.append(scene.id)
        else:
            skipped.append({"id": scene.id, "objects": names, "caption": text})
    return {"offered": [i for n in sorted(offered) for i in offered[n]], "passed_over": skipped}


def markdown(report: dict[str, Any]) -> str:
    photos = report["photos"]
    known = [r for r in photos if r["in_vocabulary"]]
    named = [r for r in known if r["named"]]
    lines = [
        "# The image page's samples",
        "",
        f"Captioner: {report['captioner']} (the one that names the most evaluation photos, "
        "reports/real_photo_eval.md). Offered: the evaluation photos whose main object it names, those whose main "
        "object is outside the vocabulary, and the first held-out test scenes per object count whose caption "
        f"names every object. Reproduce: `{report['command']}`.",
        "",
        f"Evaluation photos offered: {len(named)} of {len(known)} in the vocabulary, plus "
        f"{len(photos) - len(known)} outside it. The {len(known) - len(named)} it misses are listed here and on "
        "/eval, not offered.",
        "",
        "| photo | expected | caption | offered |",
        "|---|---|---|---|",
    ]
    for r in photos:
        mark = "yes" if r["named"] else ("yes (outside the vocabulary)" if not r["in_vocabulary"] else "no: missed")
        lines.append(f"| {r['id']} | {r['expect']} | {r['caption'] or '(empty)'} | {mark} |")
    scenes = report["scenes"]
    lines += ["", f"Scenes offered (test split ids): {', '.join(map(str, scenes['offered']))}.", ""]
    if scenes["passed_over"]:
        lines += ["Test scenes passed over on the way (a caption missing an object):", ""]
        lines += [f"- scene {s['id']} ({', '.join(s['objects'])}): {s['caption'] or '(empty)'}"
                  for s in scenes["passed_over"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=Path("data/real_photos"))
    parser.add_argument("--scenes", type=Path, default=Path("data/scenes"))
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    from models.data.real_photos import photos
    from models.data.scene_objects import vocabulary
    from models.data.scenes import load_scenes, scene_png
    from models.serve.captioner import load_captioner

    torch.set_num_threads(1)
    model_id = best_captioner(json.loads((args.out / "real_photo_eval.json").read_text()))
    model = load_captioner(model_id)

    def caption(data: bytes) -> str:
        return " ".join(model.attend(data).tokens or ())

    report = {
        "captioner": model_id,
        "command": f"python -m models.evaluate.gallery --photos {args.photos} --scenes {args.scenes}",
        "photos": photo_rows([p for p in photos("eval") if p.objects], args.photos, caption, set(vocabulary())),
        "scenes": {
            **scene_choice(load_scenes(args.scenes, "test"), lambda scene: caption(scene_png(scene))),
            "sha256": hashlib.sha256((args.scenes / "scenes.jsonl").read_bytes()).hexdigest(),
        },
    }
    (args.out / "gallery.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "gallery.md").write_text(markdown(report))
    log.info("wrote %s", args.out / "gallery.json")


if __name__ == "__main__":
    main()
