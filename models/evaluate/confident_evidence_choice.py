"""Does captioner-sat-cnn name more real photos when a noun's confident classifier evidence counts for more?
Chosen on the wider dev set (24 dev photos and 106 GCompris photos) and validation scenes ->
reports/confident_evidence_choice.{json,md}.

On the GCompris photos (reports/gcompris_check.md) the classifier's top-1 is the right noun for 15 photos the decoder
misnames, and on some of them the decoder attended cells where the classifier was sure of the right noun (attended
evidence 0.8-0.99 at one scale: a hedgehog called "a tree", a toucan "a penguin", a goldfish "a snail") yet its
learned evidence term, gain * log(1 + e / 0.01), did not outweigh its habits from the composed scenes, whose
cut-outs the classifier seldom reads that surely. The decoding choice scored here adds gain * relu(e - threshold) /
(1 - threshold) to each noun's score, e the noun's attended evidence at the surer of the two scales
(models/nets/sat.py ShowAttendTell.confident): nothing below the threshold, up to `gain` logits at e = 1. The
attention weights are untouched: the map is still the softmax the decoder used.
The rule, fixed before any candidate was scored: the candidates, in this order, are the served decoder and (threshold,
gain) = (0.6, 3), (0.6, 6), (0.3, 3), (0.3, 6), all with the served weights and otherwise the served config.json. A
candidate is allowed when its validation BLEU-4 is at least 52 and its validation pointing at least 0.86 (as in
reports/seed_choice.md). Its score is the number of photos it names among the 24 dev photos and the 106 GCompris
photos (as in reports/wider_dev_choice.md). The allowed candidate with the highest score wins, the earlier on ties,
and it is adopted only when it scores more than the served decoder. Test scenes and evaluation photos are not read.
Run: python -m models.evaluate.confident_evidence_choice [--write]  (--write: the choice into the served config.json)
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from models.data.gcompris_photos import DEFAULT_OUT as GCOMPRIS
from models.data.scene_features import CNN_FINE_FACES, load_features
from models.data.scenes import DEFAULT_OUT, load_scenes
from models.evaluate.dev_choice import changed_captions, dev_photos, score_variant, write_config, write_report
from models.evaluate.more_scenes_choice import MODEL
from models.evaluate.wider_dev_choice import choose, gcompris_named, table
from models.serve.captioner import WEIGHTS_DIR

log = logging.getLogger(__name__)
CANDIDATES = ((0.6, 3.0), (0.6, 6.0), (0.3, 3.0), (0.3, 6.0))  # (threshold, gain), in the rule's order
SERVED = "served"


def label(threshold: float, gain: float) -> str:
    return f"confident evidence > {threshold}, gain {gain:g}"


def markdown(report: dict[str, Any]) -> str:
    rule = (__doc__ or "").split("\n\n")[1].split("\nRun:")[0]
    title = "# captioner-sat-cnn: confident classifier evidence (wider dev set and validation scenes only)"
    lines = [title, "", rule, "", f"Chosen: {report['chosen']}.", ""]
    lines += table(report["rows"])
    chosen = report["chosen"]
    if chosen != SERVED:
        rows = report["rows"]
        before, after = rows[SERVED]["dev_captions"], rows[chosen]["dev_captions"]
        lines += changed_captions(before, after, "Dev captions that change:")
        lines += changed_captions(
            rows[SERVED]["gcompris_captions"], rows[chosen]["gcompris_captions"], "GCompris captions that change:"
        )
    lines += ["", f"Reproduce: `{report['command']}`", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("data/real_photos"))
    parser.add_argument("--gcompris", type=Path, default=GCOMPRIS)
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--write", action="store_true", help="write the chosen setting into the served config.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    weights = WEIGHTS_DIR / MODEL
    served = json.loads((weights / "config.json").read_text())
    if "confident_evidence" in served:
        raise SystemExit("the served config.json already has confident_evidence: score from a config without it")
    val = load_scenes(args.scenes, "val")
    features = load_features(args.scenes, CNN_FINE_FACES, [s.id for s in val])
    dev = dev_photos(args.photos)
    configs = {SERVED: served}
    for threshold, gain in CANDIDATES:
        configs[label(threshold, gain)] = {**served, "confident_evidence": {"threshold": threshold, "gain": gain}}
    rows: dict[str, dict[str, Any]] = {}
    for name, config in configs.items():
        row = score_variant(weights, config, dev, val, features)
        row.update(gcompris_named(weights, args.gcompris, config))
        row["score"] = row["dev_named"] + row["gcompris_named"]
        rows[name] = row
        log.info("%s: dev %d, GCompris %d, val BLEU-4 %s, pointing %s", name, row["dev_named"],
                 row["gcompris_named"], row["val_bleu4"], row["val_pointing"])
    chosen = choose(rows)
    report = {"model": MODEL, "rows": rows, "chosen": chosen,
              "command": "python -m models.evaluate.confident_evidence_choice"}
    write_report("confident_evidence_choice", report, markdown(report))
    log.info("chosen: %s", chosen)
    if args.write and chosen != SERVED:
        config = configs[chosen]
        where = "reports/confident_evidence_choice.md (wider dev set, validation scenes)"
        config["confident_evidence_chosen_on"] = where
        write_config(weights / "config.json", config)


if __name__ == "__main__":
    main()
