"""Keep a second training stage or not, per family, on the dev split only (issue 12's protocol).

The EN-ES family trained first under one protocol (RNNs 1,600 steps, the Transformer 5,000 steps); a second
stage starts every model of a family from its own first-stage weights with the same data, batches and extra
steps (models.train.rnn_family --init-from-dir, models.train.transformer --init-from). The rule, fixed before
either stage's test figures were looked at: a family's second stage ships when it raises the family's mean
greedy dev BLEU (the mix's dev split); otherwise every model of the family keeps its first stage. Test sets
play no part.

Run after the second stage has exported into --second and before its weights replace --first:
  python -m models.evaluate.second_stage --first models/weights --second artifacts/stage2
Writes reports/second_stage.{json,md}. Once the second stage ships, the first stage's metrics.json files are
in git history (commit ff7f869): `git show ff7f869:models/weights/<id>/metrics.json > artifacts/stage1/<id>/...`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean
from typing import Any

FAMILIES = {
    "rnn": [f"rnn-{a}-en-es" for a in ("additive", "none", "dot", "general", "concat", "location", "scaled-dot")],
    "transformer": ["transformer-en-es"],
}
REPORTS = Path("reports")


def dev_figures(folder: Path) -> dict[str, Any]:
    metrics = json.loads((folder / "metrics.json").read_text())
    return {
        "dev_bleu": metrics["dev_greedy"]["bleu"],
        "dev_chrf": metrics["dev_greedy"]["chrf"],
        "best_dev_loss": metrics["best_dev_loss"],
        "steps": metrics["steps"],
    }


def decide(first: Path, second: Path) -> dict[str, Any]:
    """Per family: each model's dev figures after each stage, the means, and whether the second stage ships."""
    report: dict[str, Any] = {}
    for family, ids in FAMILIES.items():
        rows = {i: {"first": dev_figures(first / i), "second": dev_figures(second / i)} for i in ids}
        before = mean(r["first"]["dev_bleu"] for r in rows.values())
        after = mean(r["second"]["dev_bleu"] for r in rows.values())
        report[family] = {
            "models": rows,
            "mean_dev_bleu": {"first": round(before, 2), "second": round(after, 2)},
            "ship_second_stage": after > before,
        }
    return report


def markdown(report: dict[str, Any], command: str) -> str:
    lines = [
        "# A second training stage, kept or not on dev",
        "",
        "Rule, fixed beforehand: a family's second stage ships when it raises the family's mean greedy dev BLEU "
        "(the mix's dev split); test sets play no part. Made by `" + command + "`.",
        "",
        "| model | dev BLEU stage 1 | dev BLEU stage 2 | dev loss stage 1 | dev loss stage 2 | steps stage 2 |",
        "|---|---|---|---|---|---|",
    ]
    for entry in report.values():
        for model_id, row in entry["models"].items():
            a, b = row["first"], row["second"]
            lines.append(
                f"| {model_id} | {a['dev_bleu']} | {b['dev_bleu']} | {a['best_dev_loss']} | {b['best_dev_loss']} "
                f"| {b['steps']} |"
            )
    lines.append("")
    for family, entry in report.items():
        m = entry["mean_dev_bleu"]
        verdict = "ships" if entry["ship_second_stage"] else "does not ship (stage 1 stays)"
        lines.append(f"- {family}: mean dev BLEU {m['first']} -> {m['second']}: the second stage {verdict}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=Path, default=Path("models/weights"))
    parser.add_argument("--second", type=Path, default=Path("artifacts/stage2"))
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args(argv)
    report = decide(args.first, args.second)
    command = f"python -m models.evaluate.second_stage --first {args.first} --second {args.second}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "second_stage.json").write_text(json.dumps({"command": command, **report}, indent=1) + "\n")
    (args.out / "second_stage.md").write_text(markdown(report, command))
    sys.stdout.write(markdown(report, command))


if __name__ == "__main__":
    main()
