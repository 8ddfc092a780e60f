"""Does captioner-sat-cnn name more real photos as an ensemble of its four seeds? Chosen on dev photos and validation
scenes -> reports/ensemble_choice.{json,md}.

The rule, fixed before the ensemble was scored: the candidates, in this order, are the served decoder (seed 0) and
the ensemble of the served decoder with the three retrained from seeds 1, 2 and 3 (reports/seed_choice.md: the same
recipe and data, the seed alone changed), read as one decoder (models/nets/sat.py SatEnsemble: the mean of the four
next-word distributions, the mean of the four attention maps). No other subset or weighting of the seeds is a
candidate. Both decode as served (the served config.json: beam 3, face cues at min_neighbors 12). A candidate is
allowed when its validation BLEU-4 is at least 52 and its validation pointing at least 0.86 (as in
reports/seed_choice.md). Among the allowed ones the one naming the most dev photos wins, the served decoder on ties:
the ensemble is adopted only when it names more dev photos than the served decoder. Test scenes and evaluation photos
are not read.
Run: python -m models.evaluate.ensemble_choice --member artifacts/captioner-sat-cnn-seed1 --member ... [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from models.data.scene_features import CNN_FINE_FACES, load_features
from models.data.scenes import DEFAULT_OUT, load_scenes
from models.evaluate.dev_choice import changed_captions, dev_photos, score_variant, table, write_report
from models.evaluate.more_scenes_choice import MODEL, choose, score, served_config_for
from models.serve.captioner import WEIGHTS_DIR

log = logging.getLogger(__name__)
KIND = "sat-ensemble"


def assemble(members: Sequence[Path], out: Path) -> dict[str, Any]:
    """Write the ensemble of the weights folders `members` (each the served network, checked) to `out`:
    model.safetensors holding member i's tensors as members.<i>.*, the served vocab.json, and the served config.json
    with kind sat-ensemble and the member count. Returns that config."""
    from safetensors.torch import load_file, save_file

    served = served_config_for(members[0])
    state: dict[str, torch.Tensor] = {}
    for i, folder in enumerate(members):
        served_config_for(folder)  # raises unless the served network's configuration and vocabulary
        state.update({f"members.{i}.{k}": v for k, v in load_file(str(folder / "model.safetensors")).items()})
    config = {**served, "kind": KIND, "config": {**served["config"], "members": len(members)}}
    config["ensemble_of"] = [json.loads((f / "metrics.json").read_text())["seed"] for f in members]
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    (out / "vocab.json").write_text((WEIGHTS_DIR / MODEL / "vocab.json").read_text())
    return config


def markdown(report: dict[str, Any]) -> str:
    rule = (__doc__ or "").split("\n\n")[1].split("\nRun:")[0]
    lines = ["# captioner-sat-cnn as an ensemble of its seeds (dev photos and validation scenes only)", "", rule, ""]
    lines += [f"Chosen: {report['chosen']}.", "", *table(report["rows"], "decoder")]
    served, ensemble = (r["dev_captions"] for r in report["rows"].values())
    lines += changed_captions(served, ensemble, "Dev captions that change:")
    lines += ["", f"Reproduce: `{report['command']}`", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--member", type=Path, action="append", required=True, help="a retrained seed's folder")
    parser.add_argument("--out", type=Path, default=Path("artifacts/captioner-sat-cnn-ensemble"))
    parser.add_argument("--photos", type=Path, default=Path("data/real_photos"))
    parser.add_argument("--scenes", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    config = assemble([WEIGHTS_DIR / MODEL, *args.member], args.out)
    val = load_scenes(args.scenes, "val")
    features = load_features(args.scenes, CNN_FINE_FACES, [s.id for s in val])
    label = "ensemble of seeds " + ", ".join(str(s) for s in config["ensemble_of"])
    rows = {
        "served (seed 0)": score(WEIGHTS_DIR / MODEL, args.photos, args.scenes),
        label: {"weights": str(args.out), **score_variant(args.out, config, dev_photos(args.photos), val, features)},
    }
    report = {
        "model": MODEL,
        "members": [str(m) for m in args.member],
        "rows": rows,
        "chosen": choose(rows),
        "command": "python -m models.evaluate.ensemble_choice " + " ".join(f"--member {m}" for m in args.member),
    }
    write_report("ensemble_choice", report, markdown(report))
    log.info("chosen: %s", report["chosen"])


if __name__ == "__main__":
    main()
