"""The lecture's sentences through every EN->ES model, as a user would see them on the text page.

Each model translates each sentence through its serving adapter (greedy, as the page does); the word-level
map is the page's: readouts.merge_words of the attention (an RNN's single map, the Transformer's last
decoder layer averaged over heads). For "we are eating bread" the check is the one issue 12 states: the
output contains "pan", the "pan" row's argmax is "bread", and the additive and Transformer outputs hold a
form of "comer". The other sentences are everyday ones whose outputs are printed for the reader, not scored.

Writes reports/lecture_sentences.{json,md}.
Run: python -m models.evaluate.lecture_sentences [--weights-dir models/weights] [--models ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path
from typing import Any

from models.evaluate.runs import trained_models
from models.readouts import merge_words

logger = logging.getLogger(__name__)

BREAD = ("we are eating bread", "We are eating bread.")
EVERYDAY = (
    "I would like a cup of coffee, please.",
    "Where is the train station?",
    "The cat is sleeping on the chair.",
    "Open the file and save your changes.",
)
# a form of comer; not "como", which is mostly "as" / "like"
COMER = re.compile(r"\b(com(?:er\w*|es?|emos|éis|en|iendo|ido|í|iste|ió|imos|ieron|ía\w*))\b", re.IGNORECASE)
PAN = re.compile(r"\bpan(es)?\b", re.IGNORECASE)


def load_translator(folder: Path) -> Any:
    if folder.name.startswith("transformer-"):
        from models.serve.transformer import load_transformer

        return load_transformer(str(folder))
    from models.serve.rnn import load_rnn

    return load_rnn(str(folder))


def word_map(output: Any) -> tuple[Any, tuple[str, ...], tuple[str, ...]] | None:
    """The page's word-level readout: (target words, source words) weights, row and column labels."""
    if not output.stacks:
        return None
    stack = merge_words(
        [s for s in output.stacks if s.kind == "cross"][-1]
    )  # (L, H, R, C); the cross-attention is the last stack
    return stack.weights[-1].mean(dim=0).numpy(), stack.row_tokens, stack.col_tokens


def check_sentence(translator: Any, text: str) -> dict[str, Any]:
    out = translator.attend(text)
    result: dict[str, Any] = {"source": text, "output": out.output_text, "has_pan": bool(PAN.search(out.output_text)),
                              "comer_form": (COMER.search(out.output_text) or [None])[0]}  # fmt: skip
    readout = word_map(out)
    if readout is not None:
        weights, rows, cols = readout
        pan_rows = [k for k, w in enumerate(rows) if PAN.fullmatch(w.strip(".,;:!?¡¿").lower() or "-")]
        if pan_rows:
            result["pan_row_argmax"] = cols[int(weights[pan_rows[0]].argmax())]
    return result


def build_report(weights_dir: Path, model_ids: list[str] | None) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for model_id in model_ids or trained_models(weights_dir):
        translator = load_translator(weights_dir / model_id)
        rows = [check_sentence(translator, s) for s in (*BREAD, *EVERYDAY)]
        bread = rows[: len(BREAD)]
        models[model_id] = {
            "sentences": rows,
            "bread_has_pan": all(r["has_pan"] for r in bread),
            "bread_pan_on_bread": all(r.get("pan_row_argmax", "").lower().strip(".") == "bread" for r in bread),
            "bread_has_comer": all(r["comer_form"] for r in bread),
        }
        logger.info("%s: %s", model_id, [r["output"] for r in rows])
    return {"protocol": __doc__.split("\n\n")[1].replace("\n", " "), "models": models}


def markdown(report: dict[str, Any]) -> str:
    head = '| model | "pan" in both | "pan" row on "bread" | form of "comer" | outputs |\n|---|---|---|---|---|'
    lines = ["# The lecture's sentences", "", report["protocol"], "",
             "Made by `make eval` (`python -m models.evaluate.lecture_sentences`).", "", head]  # fmt: skip
    for model_id, m in report["models"].items():
        outputs = "<br>".join(
            f"{r['source']} → {r['output']}" + (f" (pan → {r['pan_row_argmax']})" if "pan_row_argmax" in r else "")
            for r in m["sentences"]
        )
        yes = {True: "yes", False: "no"}
        lines.append(f"| {model_id} | {yes[m['bread_has_pan']]} | {yes[m['bread_pan_on_bread']]} | "
                     f"{yes[m['bread_has_comer']]} | {outputs.replace('|', '/')} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights-dir", type=Path, default=Path("models/weights"))
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    parser.add_argument("--models", nargs="*")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(1)
    report = build_report(args.weights_dir, args.models)
    args.reports_dir.mkdir(parents=True, exist_ok=True)
    (args.reports_dir / "lecture_sentences.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (args.reports_dir / "lecture_sentences.md").write_text(markdown(report), encoding="utf-8")


if __name__ == "__main__":
    main()
