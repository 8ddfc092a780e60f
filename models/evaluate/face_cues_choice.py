"""Whether captioner-sat-cnn reads detected faces as "person" evidence, and with which detector setting: chosen on
dev photos and validation scenes -> reports/face_cues_choice.{json,md}; with --write the choice goes into the
weights' config.json (`face_cues`, the decoder's `cues`, feature_dim and feature_layer).

The rule, fixed before any figure was read: the candidates are the served decoder without face cues, and with
them (models/nets/face_cues.py) at min_neighbors 5, 8 and 12; the weights are the same. A candidate is allowed when
it loses none of the dev photos the decoder without cues names, and its validation BLEU-4 and pointing are at most
0.25 and 0.003 below those without cues (about one scene's worth of 600). Among the allowed candidates with cues,
the one naming the most dev photos wins, the highest min_neighbors (the fewest detections) on ties; cues are adopted
only when that names more dev photos than the decoder without them. Test scenes and evaluation photos are not read.
Run: python -m models.evaluate.face_cues_choice [--write] [--reuse]  (--reuse: the rows of the last report)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.data.scene_features import CNN_FINE, CNN_FINE_FACES, PixelCache, TwoScaleFeatures, load_features
from models.data.scenes import load_scenes
from models.evaluate.dev_choice import (
    changed_captions,
    choice_rows,
    dev_photos,
    report_of,
    score_variant,
    table,
    write_config,
    write_report,
)
from models.formats.captioner_folder import load_decoder
from models.nets.face_cues import FaceCueConfig, FaceCues
from models.serve.captioner import WEIGHTS_DIR

log = logging.getLogger(__name__)
MODEL = "captioner-sat-cnn"
NEIGHBOURS = (5, 8, 12)
BLEU_SLACK, POINTING_SLACK = 0.25, 0.003


def variant(config: dict[str, Any], neighbours: int | None) -> dict[str, Any]:
    """The weights' config.json without face cues (None) or with them at this min_neighbors."""
    out = json.loads(json.dumps(config))
    decoder = out["config"]
    if decoder.get("cues"):  # back to the decoder without cues
        decoder["feature_dim"] -= len(decoder["cues"])
        decoder["cues"] = []
    out.pop("face_cues", None)
    out["feature_layer"] = CNN_FINE
    if neighbours is not None:
        decoder["cues"] = [load_decoder(WEIGHTS_DIR / MODEL)[1].index["person"]]
        decoder["feature_dim"] += 1
        out["face_cues"] = {"min_neighbors": neighbours}
        out["feature_layer"] = CNN_FINE_FACES
    return out


def choose(rows: dict[str, dict[str, Any]]) -> str:
    """The rule of the module docstring over {"none" | "5" | ...: {"dev_named_ids", "val_bleu4", "val_pointing"}}."""
    base = rows["none"]
    allowed = [
        k
        for k, r in rows.items()
        if k != "none"
        and set(base["dev_named_ids"]) <= set(r["dev_named_ids"])
        and r["val_bleu4"] >= base["val_bleu4"] - BLEU_SLACK
        and r["val_pointing"] >= base["val_pointing"] - POINTING_SLACK
    ]
    if not allowed:
        return "none"
    best = max(allowed, key=lambda k: (len(rows[k]["dev_named_ids"]), int(k)))
    return best if len(rows[best]["dev_named_ids"]) > len(base["dev_named_ids"]) else "none"


def val_faces(scenes_dir: Path, ids: list[int], neighbours: int) -> np.ndarray:
    """(n, 196, 1) face cues of the validation scenes (zero elsewhere), from the cached model inputs."""
    scenes = load_scenes(scenes_dir)
    cache = PixelCache(scenes_dir, scenes)
    cues = FaceCues(FaceCueConfig(min_neighbors=neighbours))
    out = np.zeros((len(scenes), 196, 1), dtype=np.float16)
    for k in range(0, len(ids), 50):
        chunk = ids[k : k + 50]
        out[chunk] = cues(cache.batch(chunk), (14, 14)).numpy()
    return out


def score(photos: Path, scenes_dir: Path) -> dict[str, dict[str, Any]]:
    config = json.loads((WEIGHTS_DIR / MODEL / "config.json").read_text())
    dev = dev_photos(photos)
    val = load_scenes(scenes_dir, "val")
    ids = [s.id for s in val]
    two = load_features(scenes_dir, CNN_FINE, ids)
    rows: dict[str, dict[str, Any]] = {}
    for neighbours in (None, *NEIGHBOURS):
        key = "none" if neighbours is None else str(neighbours)
        features: Any = two
        if neighbours is not None:
            features = TwoScaleFeatures(two.fine, two.coarse, val_faces(scenes_dir, ids, neighbours))
        rows[key] = score_variant(WEIGHTS_DIR / MODEL, variant(config, neighbours), dev, val, features)
        log.info("%s min_neighbors %s: %s", MODEL, key, {k: v for k, v in rows[key].items() if k != "dev_captions"})
    return rows


def markdown(report: dict[str, Any]) -> str:
    rule = __doc__.split("\n\n")[1].split("\nRun:")[0]
    lines = ['# captioner-sat-cnn: faces as evidence for "person" (dev photos and validation scenes only)', ""]
    lines += [rule, "", f"Chosen: {report['chosen_text']}.", ""]
    labels = {key: "none" if key == "none" else f"min_neighbors {key}" for key in report["rows"]}
    lines += table(report["rows"], "face cues", labels)
    if report["chosen"] != "none":
        before, after = (report["rows"][k]["dev_captions"] for k in ("none", report["chosen"]))
        lines += changed_captions(before, after, "Dev captions the chosen setting changes:")
    lines += ["", f"Reproduce: `{report['command']}`", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args, rows = choice_rows("face_cues_choice", argv, __doc__, score)
    chosen = choose(rows)
    report = report_of("face_cues_choice", MODEL, rows, chosen, args.write)
    report["chosen_text"] = "no face cues" if chosen == "none" else f"face cues with min_neighbors {chosen}"
    write_report("face_cues_choice", report, markdown(report))
    log.info("chosen: %s", report["chosen_text"])
    if args.write:
        path = WEIGHTS_DIR / MODEL / "config.json"
        config = variant(json.loads(path.read_text()), None if chosen == "none" else int(chosen))
        if chosen != "none":
            config["face_cues_chosen_on"] = "reports/face_cues_choice.md (dev photos, validation scenes)"
        write_config(path, config)
        log.info("wrote %s", path)


if __name__ == "__main__":
    main()
