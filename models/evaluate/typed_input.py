"""Typed input on dev: the check behind models.serve.pieces.cased -> reports/typed_input.{json,md}.

People type "we are eating bread", while nearly every English sentence of the training mix begins with a capital
letter and ends with a stop. This scores every EN-ES model on SENTENCES dev pairs of the mix (a seeded draw of
those of at most 25 words; test sets play no part) under four inputs: the dev sentence as written, and the same
sentence lower-cased with its final stop removed ("typed"), each without and with the rule (an input without a
single capital letter gets its first letter upper-cased). Greedy decoding, sacreBLEU against the unchanged
references. The rule ships if it raises typed-input BLEU for every model and moves as-written BLEU by less than
0.1 for every model (decided on these figures alone, before the lecture's sentences were run through it).
Run: python -m models.evaluate.typed_input [--data data/en_es_mix] [--models ...]
"""

import argparse
import json
import logging
import random
import re
from pathlib import Path
from typing import Any

from models.evaluate.runs import FAMILIES, family_of, trained_models
from models.evaluate.verses import TestVerse
from models.serve.pieces import cased
from models.train.metrics import score

logger = logging.getLogger(__name__)

SENTENCES = 400
MAX_WORDS = 25
SEED = 0


def typed(text: str) -> str:
    """What people type: lower case, no final stop."""
    return re.sub(r"[.!?;:]+$", "", text.strip()).lower()


def dev_pairs(data: Path) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in (data / "dev.jsonl").read_text(encoding="utf-8").splitlines()]
    random.Random(SEED).shuffle(rows)
    return [r for r in rows if len(r["en"].split()) <= MAX_WORDS][:SENTENCES]


def bleu_of(model_id: str, folder: Path, sources: list[str], references: list[str], casing: bool) -> float:
    verses = [
        TestVerse(str(i), en, es, frozenset()) for i, (en, es) in enumerate(zip(sources, references, strict=True))
    ]
    run = FAMILIES[family_of(model_id)](folder, verses, casing=casing)
    return round(float(score(run.hyps, references)["bleu"]), 2)


def build_report(data: Path, weights_dir: Path, model_ids: list[str] | None) -> dict[str, Any]:
    pairs = dev_pairs(data)
    written = [p["en"] for p in pairs]
    references = [p["es"] for p in pairs]
    inputs = {"written": written, "typed": [typed(s) for s in written]}
    models: dict[str, dict[str, float]] = {}
    for model_id in model_ids or trained_models(weights_dir):
        figures = {}
        for name, sources in inputs.items():
            for casing in (False, True):
                figures[f"{name}{' + rule' if casing else ''}"] = bleu_of(
                    model_id, weights_dir / model_id, sources, references, casing
                )
        logger.info("%s: %s", model_id, figures)
        models[model_id] = figures
    ships = all(
        f["typed + rule"] > f["typed"] and abs(f["written + rule"] - f["written"]) < 0.1 for f in models.values()
    )
    return {
        "split": f"{len(pairs)} dev pairs of {data} (seed {SEED}, at most {MAX_WORDS} words)",
        "changed_by_rule": {k: sum(cased(s) != s for s in v) for k, v in inputs.items()},
        "models": models,
        "rule_ships": ships,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Typed input: capitalising an all-lower-case sentence",
        "",
        'People type "we are eating bread"; the training sentences begin with a capital letter and end with a '
        "stop. Greedy dev BLEU of every EN-ES model on "
        f"{report['split']}: as written, and lower-cased without the final stop (typed), each without and with "
        "the rule of `models.serve.pieces.cased` (an input with no capital letter gets its first letter "
        f"upper-cased; it changes {report['changed_by_rule']['written']} of the written and "
        f"{report['changed_by_rule']['typed']} of the typed sentences). Made by "
        "`python -m models.evaluate.typed_input`; test sets play no part.",
        "",
        "| model | written | written + rule | typed | typed + rule |",
        "|---|---|---|---|---|",
    ]
    for model_id, f in report["models"].items():
        lines.append(f"| {model_id} | {f['written']} | {f['written + rule']} | {f['typed']} | {f['typed + rule']} |")
    verdict = "ships (the service and `make eval` apply it)" if report["rule_ships"] else "does not ship"
    lines += [
        "",
        "Criterion: the rule ships if typed BLEU rises for every model and written BLEU moves by less than 0.1 for "
        f"every model. It {verdict}. It was decided on these dev figures alone, before the lecture's sentences were "
        "run through the rule.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/en_es_mix"))
    parser.add_argument("--weights-dir", type=Path, default=Path("models/weights"))
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    parser.add_argument("--models", nargs="*")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    report = build_report(args.data, args.weights_dir, args.models)
    args.reports_dir.mkdir(parents=True, exist_ok=True)
    (args.reports_dir / "typed_input.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.reports_dir / "typed_input.md").write_text(markdown(report), encoding="utf-8")


if __name__ == "__main__":
    main()
