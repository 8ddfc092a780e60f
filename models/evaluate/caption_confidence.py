"""Calibrate when a captioner is unsure: the caption confidence under which its captions are mostly wrong.

Confidence: the geometric mean of the probabilities the decoder chose its words with
(models.readouts.caption_confidence of ImageAttentionOutput.caption_probs: the words and the stop, the API's
`confidence`); an empty caption has confidence 0.

Labelled captions, made through the served model (upload bytes -> caption, as the page does):
- the validation split of the composed scenes (data/scenes, split "val"): correct when the caption names
  every object of the scene and no object that is not in it (the object words of models/evaluate/captions.py:
  object precision and recall both 1);
- where the real-photo table is built, its dev split (data/real_photos, split "dev"; the eval split is never
  read): correct when the caption names the photo's main object, by its name or a listed synonym (the
  real-photo score of `make eval`).
Object names are matched as whole words or phrases of the caption, longest first ("hot dog" is not a dog).

Rule: a caption is flagged unsure when confidence < t. t is the midpoint between two consecutive distinct
confidences that maximises the balanced accuracy of the flag, (share of wrong captions flagged + share of
correct captions not flagged) / 2, with each source weighted equally when both are present (the few dev
photos count as much as the many scenes: real photos are what the page is for); ties go to the lowest t
(flag the fewest). When no t beats 0.5 (confidence does not separate them) or one class is empty, no
threshold is written (unsure_below null: the page then states the confidence without a verdict).

Writes `unsure_below` into models/weights/<id>/config.json (read by models/serve/captioner.py) and the
figures into metrics.json under `confidence_calibration`.
Run: python -m models.evaluate.caption_confidence [--models captioner-sat ...] [--scenes data/scenes]
     [--real-photos data/real_photos] [--limit N] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from models.readouts import caption_confidence

log = logging.getLogger(__name__)

KEY = "confidence_calibration"  # metrics.json key
RULE = (
    "unsure when confidence < t; t = the midpoint between consecutive distinct confidences that maximises balanced "
    "accuracy ((wrong captions flagged + correct captions not flagged) / 2, each source weighted equally), lowest t "
    "on ties; no threshold unless it beats 0.5"
)
Source = Literal["val_scenes", "dev_photos"]


@dataclass(frozen=True)
class LabelledImage:
    """An image with the objects a caption of it should name."""

    source: Source
    id: str  # scene id or photo id
    image: Callable[[], bytes]  # the bytes a user would upload
    expect: tuple[str, ...]  # scenes: every object; photos: the main object(s)
    synonyms: tuple[str, ...] = ()  # photos: other words that name the main object
    require_all: bool = True  # scenes: every object and nothing else; photos: any expected name


def named_objects(words: Sequence[str], vocabulary: Iterable[str]) -> list[str]:
    """The object names of `vocabulary` (single words or phrases) the caption says, longest first, in caption
    order; a word belongs to at most one name ("a hot dog" names "hot dog", not "dog")."""
    names = sorted({tuple(v.split()) for v in vocabulary if v.split()}, key=len, reverse=True)
    used = [False] * len(words)
    found: list[tuple[int, str]] = []
    for name in names:
        n = len(name)
        for i in range(len(words) - n + 1):
            if not any(used[i : i + n]) and tuple(words[i : i + n]) == name:
                used[i : i + n] = [True] * n
                found.append((i, " ".join(name)))
    return [name for _, name in sorted(found)]


def is_correct(words: Sequence[str], item: LabelledImage, vocabulary: Iterable[str]) -> bool:
    """Scenes: the caption's object names are exactly the scene's objects. Photos: it says the main object's
    name or a synonym."""
    if item.require_all:
        return set(named_objects(words, vocabulary)) == set(item.expect)
    return bool(named_objects(words, (*item.expect, *item.synonyms)))


@dataclass(frozen=True)
class Threshold:
    value: float | None  # unsure below this; None: no threshold separates them
    balanced_accuracy: float  # of the flag at `value` (weighted; 0.5 when None)


def choose_threshold(confidence: Sequence[float], correct: Sequence[bool], weight: Sequence[float]) -> Threshold:
    """The RULE of the module docstring. Every sequence is one entry per caption."""
    wrong_total = sum(w for w, ok in zip(weight, correct, strict=True) if not ok)
    right_total = sum(w for w, ok in zip(weight, correct, strict=True) if ok)
    if wrong_total <= 0 or right_total <= 0:
        return Threshold(None, 0.5)
    values = sorted(set(confidence))
    best = Threshold(None, 0.5)
    for low, high in zip(values, values[1:], strict=False):
        t = (low + high) / 2
        flagged_wrong = sum(w for c, ok, w in zip(confidence, correct, weight, strict=True) if not ok and c < t)
        kept_right = sum(w for c, ok, w in zip(confidence, correct, weight, strict=True) if ok and c >= t)
        score = (flagged_wrong / wrong_total + kept_right / right_total) / 2
        if score > best.balanced_accuracy + 1e-12:
            best = Threshold(round(t, 6), round(score, 4))
    return best


def auroc(confidence: Sequence[float], correct: Sequence[bool]) -> float | None:
    """Probability that a random correct caption is more confident than a random wrong one (ties count 1/2)."""
    right = [c for c, ok in zip(confidence, correct, strict=True) if ok]
    wrong = [c for c, ok in zip(confidence, correct, strict=True) if not ok]
    if not right or not wrong:
        return None
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return round(wins / (len(right) * len(wrong)), 4)


def source_figures(confidence: list[float], correct: list[bool], threshold: float | None) -> dict[str, Any]:
    """How one source's captions fare: counts, mean confidence of right and wrong captions, and the flag at t."""
    right = [c for c, ok in zip(confidence, correct, strict=True) if ok]
    wrong = [c for c, ok in zip(confidence, correct, strict=True) if not ok]

    def mean(xs: list[float]) -> float | None:
        return round(sum(xs) / len(xs), 4) if xs else None

    figures: dict[str, Any] = {
        "captions": len(confidence),
        "correct": len(right),
        "wrong": len(wrong),
        "mean_confidence_correct": mean(right),
        "mean_confidence_wrong": mean(wrong),
        "auroc": auroc(confidence, correct),
    }
    if threshold is not None:
        figures["wrong_flagged"] = round(sum(c < threshold for c in wrong) / len(wrong), 4) if wrong else None
        figures["correct_flagged"] = round(sum(c < threshold for c in right) / len(right), 4) if right else None
    return figures


Captioner = Callable[[bytes], tuple[Sequence[str], Sequence[float], Sequence[str]]]  # -> words, probs (+ stop), known


def calibrate(caption: Captioner, items: Sequence[LabelledImage]) -> dict[str, Any]:
    """Caption every item, label it, choose the threshold; returns the `confidence_calibration` figures."""
    rows: list[tuple[Source, float, bool]] = []
    examples: list[dict[str, Any]] = []
    for item in items:
        words, probs, known = caption(item.image())
        words = list(words)
        if len(probs) not in (len(words), len(words) + 1) or (not words and probs):  # the stop may follow the words
            raise ValueError(f"{item.source} {item.id}: {len(probs)} probabilities for {len(words)} words")
        confidence = caption_confidence(probs)
        ok = is_correct(words, item, (*known, *item.expect))
        rows.append((item.source, confidence, ok))
        if len(examples) < 12:
            examples.append(
                {
                    "source": item.source,
                    "id": item.id,
                    "caption": " ".join(words),
                    "expect": list(item.expect),
                    "confidence": round(confidence, 4),
                    "correct": ok,
                }
            )
    counts = {s: sum(r[0] == s for r in rows) for s in dict.fromkeys(r[0] for r in rows)}
    weights = [1.0 / (len(counts) * counts[s]) for s, _, _ in rows]  # each source sums to 1 / sources
    chosen = choose_threshold([r[1] for r in rows], [r[2] for r in rows], weights)
    return {
        "confidence": "geometric mean of the chosen words' and the stop's probabilities (0 for an empty caption)",
        "rule": RULE,
        "unsure_below": chosen.value,
        "balanced_accuracy": chosen.balanced_accuracy,
        "sources": {
            s: source_figures([r[1] for r in rows if r[0] == s], [r[2] for r in rows if r[0] == s], chosen.value)
            for s in counts
        },
        "examples": examples,
    }


def write_calibration(folder: Path, figures: dict[str, Any]) -> None:
    """unsure_below into config.json (null when none was chosen), the figures into metrics.json."""
    config = json.loads((folder / "config.json").read_text())
    config["unsure_below"] = figures["unsure_below"]
    (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    metrics[KEY] = figures
    metrics_path.write_text(json.dumps(metrics, indent=1) + "\n")


def val_scenes(folder: Path, limit: int | None = None) -> list[LabelledImage]:
    """The validation scenes of data/scenes, each expecting exactly its objects."""
    from functools import partial

    from models.data.scenes import load_scenes, scene_png

    scenes = load_scenes(folder, "val")[:limit]
    return [
        LabelledImage("val_scenes", str(s.id), partial(scene_png, s), tuple(o.name for o in s.objects)) for s in scenes
    ]


def dev_photos(folder: Path, limit: int | None = None) -> list[LabelledImage]:
    """The dev photos of the real-photo table (models/data/real_photos.py) whose files are in `folder`, each
    expecting its main object; never an eval photo. [] before the table or the folder exists."""
    try:
        from models.data.real_photos import photos
    except ImportError:
        return []
    chosen = photos("dev")
    found = [p for p in chosen if (folder / p.filename).is_file()]
    if len(found) < len(chosen):
        log.warning(
            "%d of %d dev photos are not in %s: run python -m models.data.real_photos --split dev",
            len(chosen) - len(found),
            len(chosen),
            folder,
        )
    if any(p.split != "dev" for p in found):
        raise ValueError("only dev photos may calibrate")  # the eval split is never read here
    return [
        LabelledImage(
            "dev_photos",
            p.id,
            (folder / p.filename).read_bytes,
            (p.main.name,),
            tuple(w for w in p.main.synonyms if w != p.main.name),
            require_all=False,
        )
        for p in found[:limit]
    ]


def served_captioner(model_id: str) -> Captioner:
    """The catalog's model `model_id` as a Captioner: what the page would caption (its served decoding)."""
    from models.catalog import CATALOG
    from models.contract import ImageModel

    spec = next(s for s in CATALOG if s.id == model_id)
    if spec.task != "captioning":
        raise ValueError(f"{model_id} is a {spec.task} model, not a captioner")
    model = cast(ImageModel, spec.loader.resolve()())  # the catalog's captioning loaders return image models

    def caption(data: bytes) -> tuple[Sequence[str], Sequence[float], Sequence[str]]:
        out = model.attend(data)
        if out.token_probs is None:
            raise ValueError(f"{model_id} records no word probabilities: nothing to calibrate")
        return list(out.tokens or ()), out.caption_probs() or [], list(out.known_objects)

    return caption


def main(argv: list[str] | None = None) -> None:
    from models.catalog import CATALOG
    from models.serve.captioner import WEIGHTS_DIR

    captioners = [s.id for s in CATALOG if s.task == "captioning"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=captioners, choices=captioners)
    parser.add_argument("--scenes", type=Path, default=Path("data/scenes"))
    parser.add_argument("--real-photos", type=Path, default=Path("data/real_photos"))
    parser.add_argument("--limit", type=int, default=None, help="at most this many items per source")
    parser.add_argument("--dry-run", action="store_true", help="report, write nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(1)
    items = [*val_scenes(args.scenes, args.limit), *dev_photos(args.real_photos, args.limit)]
    command = f"python -m models.evaluate.caption_confidence --scenes {args.scenes} --real-photos {args.real_photos}"
    if args.limit is not None:
        command += f" --limit {args.limit}"
    for model_id in args.models:
        folder = WEIGHTS_DIR / model_id
        if not (folder / "config.json").exists():
            log.warning("skipping %s: no weights in %s", model_id, folder)
            continue
        with torch.inference_mode():
            figures = calibrate(served_captioner(model_id), items)
        figures["command"] = f"{command} --models {model_id}"
        log.info(
            "%s: unsure below %s (balanced accuracy %s); %s",
            model_id,
            figures["unsure_below"],
            figures["balanced_accuracy"],
            json.dumps(figures["sources"]),
        )
        if not args.dry_run:
            write_calibration(folder, figures)
            log.info("wrote %s and %s", folder / "config.json", folder / "metrics.json")


if __name__ == "__main__":
    main()
