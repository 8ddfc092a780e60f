"""Integrated gradients' completeness on rows the faithfulness report does not score: the dev check behind the
choice of integration rule in models/explain/attribute.py -> reports/ig_completeness_dev.json.

The same models, baselines and row draw as models/evaluate/faithfulness.py (the first sentences of at most
MAX_SOURCE_TOKENS tokens, each one's `--rows` output words drawn with its place as seed, the final </s> left out),
but on the Bible dev verses (marian-pt-en: marian-en-pt's Portuguese of them) and the captioners' validation
scenes. Each rule (`--segments`: 1 = one Captum Gauss-Legendre rule over the whole path, 4 = four pieces cut by
equal shares of the score's change, "4:slope" = four pieces cut by equal shares of its slope's change) is scored
by the share of rows whose |sum of attributions - (F(x) - F(baseline))| is within 5% of |F(x) - F(baseline)|, with
the median relative gap and the CPU time per input.
Run: .venv/bin/python -m models.evaluate.ig_completeness --limit 40 [--models ...] [--segments 1 4] [--steps 32]
`--split test --limit 200` scores the report's own rows instead (the same figures as reports/faithfulness.json for
the served rule, in a fraction of its time): to read the result, never to choose.
`--retry 128` also scores what the Explain views do: the rows that miss are computed again with 128 steps.
`--smooth-relu BETA` is a diagnostic, not a served model: every ReLU (Marian's feed-forward layers and the SSRU's
output) becomes softplus(BETA x) / BETA for the run, a model whose slope along the path has no kinks. How far the
complete share rises then says how much of integrated gradients' miss on Marian the ReLU kinks explain
(reports/ig_kinks_dev.json).
`--cnn-inputs readings` attributes captioner-sat-cnn's words to each cell's readings through the frozen ImageNet
head instead of its raw CNN features (models/explain/families.py; scored on dev, not taken: reports/ig_rules_dev.json).
"""

import argparse
import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from models.evaluate.faithfulness import TOLERANCE, draw_rows
from models.evaluate.faithfulness_inputs import Translator, distinct_inputs, english_sentences, served_models
from models.explain import families
from models.explain.attribute import Attributions, Cut, attribute

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]


def parse_rule(text: str) -> tuple[int, Cut]:
    """ "4" -> (4, "score"): 4 pieces cut by the score's change; "4:slope" -> (4, "slope")."""
    pieces, _, cut = text.partition(":")
    if cut not in ("", "score", "slope"):
        raise argparse.ArgumentTypeError(f"unknown cut {cut!r}: score or slope")
    return int(pieces), "slope" if cut == "slope" else "score"


@contextmanager
def smooth_relu(beta: float | None) -> Iterator[None]:
    """Diagnostic: torch.relu and Tensor.relu_ (the ReLUs of Marian's torch path) become softplus(beta x) / beta
    inside the block (None: unchanged). Changes the model: never used to serve or to report a served figure."""
    if beta is None:
        yield
        return
    relu, relu_ = torch.relu, torch.Tensor.relu_

    def soft(x: torch.Tensor) -> torch.Tensor:
        return F.softplus(x, beta=beta)

    torch.relu = soft  # type: ignore[assignment]
    torch.Tensor.relu_ = soft  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        torch.relu, torch.Tensor.relu_ = relu, relu_  # type: ignore[method-assign]


def relative_gaps(result: Attributions) -> list[float]:
    """Per row, |sum of attributions - (F(x) - F(baseline))| / |F(x) - F(baseline)|."""
    return ((result.values.sum(-1) - result.change).abs() / result.change.abs().clamp_min(1e-12)).tolist()


def gaps(
    model: Translator,
    inputs: Sequence[Any],
    limit: int,
    rows: int,
    steps: int,
    segments: Sequence[str],
    retry: int | None = None,
) -> dict:
    """Relative completeness gaps of every rule ("K" or "K:slope", parse_rule) on `rows` words of up to `limit`
    distinct inputs, and CPU s/input. retry: the rows that miss are computed again with this many steps (what the
    Explain views do), and the share complete after that is reported too."""
    found: dict[str, list[float]] = {k: [] for k in segments}
    after: dict[str, list[float]] = {k: [] for k in segments}
    cpu: dict[str, float] = {k: 0.0 for k in segments}
    picked = list(distinct_inputs(model, inputs, limit))
    for position, _, item in picked:
        explainable = model.explain(item)
        T = len(explainable.row_tokens)
        if T == 0:
            continue
        chosen = draw_rows(T, rows, position)
        score = explainable.score_rows(chosen)
        for k in segments:
            start = time.process_time()
            x, baseline = explainable.x, explainable.baseline
            pieces, cut = parse_rule(k)
            explained = range(len(chosen))
            result = attribute(score, x, "integrated_gradients", explained, steps, baseline, segments=pieces, cut=cut)
            cpu[k] += time.process_time() - start
            gap = relative_gaps(result)
            found[k] += gap
            if retry:
                missed = [i for i, g in enumerate(gap) if g > TOLERANCE]
                redo = attribute(score, x, "integrated_gradients", missed, retry, baseline, segments=pieces, cut=cut)
                again = dict(zip(missed, relative_gaps(redo), strict=True))
                after[k] += [again.get(i, g) for i, g in enumerate(gap)]
    return {
        str(k): {
            "rows": len(found[k]),
            "complete_rate": float(np.mean([g <= TOLERANCE for g in found[k]])) if found[k] else None,
            "median_gap": float(np.median(found[k])) if found[k] else None,
            "cpu_seconds_per_input": cpu[k] / max(len(picked), 1),
            **({"retry_steps": retry, "complete_after_retry": float(np.mean([g <= TOLERANCE for g in after[k]]))}
               if retry and after[k] else {}),
        }
        for k in segments
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40, help="sentences per translation model")
    parser.add_argument("--scenes", type=int, default=None, help="scenes per captioner (default: all)")
    parser.add_argument("--split", choices=("dev", "test"), default="dev", help="dev (and val scenes), or test")
    parser.add_argument("--rows", type=int, default=2, help="explained output words per input")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--retry", type=int, default=None, help="compute the rows that miss again with this many steps")
    parser.add_argument(
        "--segments", nargs="+", default=["1", "4"], help='rules to compare: pieces, "4:slope" cut by the slope'
    )
    parser.add_argument("--models", nargs="*", default=None, help="only these model ids (default: every one)")
    parser.add_argument("--out", type=Path, default=None, help="default reports/ig_completeness_<split>.json")
    parser.add_argument(
        "--smooth-relu", type=float, default=None, metavar="BETA", help="diagnostic: ReLU -> softplus(BETA x) / BETA"
    )
    parser.add_argument(
        "--cnn-inputs",
        choices=("readings", "features"),
        default=None,
        help="captioner-sat-cnn's attributed inputs (default: the served choice, models/explain/families.py)",
    )
    parser.add_argument(
        "--cnn-baseline",
        choices=("blank", "zero"),
        default=None,
        help="captioner-sat-cnn's baseline: an empty canvas's features or all-zero features (default: served)",
    )
    args = parser.parse_args(argv)
    if args.cnn_inputs:
        families.CNN_INPUTS = args.cnn_inputs
    if args.cnn_baseline:
        families.CNN_BASELINE = args.cnn_baseline
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    wanted = set(args.models) if args.models else None
    english = english_sentences(args.limit, args.split)
    scenes = "val" if args.split == "dev" else "test"
    results: dict[str, Any] = {}

    for model_id, model, inputs in served_models(wanted, english, scenes):
        limit = args.limit if isinstance(inputs[0], str) else args.scenes or len(inputs)
        with smooth_relu(args.smooth_relu):
            results[model_id] = gaps(model, inputs, limit, args.rows, args.steps, args.segments, args.retry)
        for k, figures in results[model_id].items():
            logger.info("%s, %s segment(s): %s", model_id, k, figures)
    report = {
        "split": f"Bible {args.split} verses (marian-pt-en: marian-en-pt's Portuguese of them); captioners: "
        f"{scenes} scenes",
        "settings": {
            "limit": args.limit,
            "scenes": args.scenes,
            "rows": args.rows,
            "steps": args.steps,
            "retry": args.retry,
            "smooth_relu": args.smooth_relu,
            "cnn_inputs": families.CNN_INPUTS,
            "cnn_baseline": families.CNN_BASELINE,
        },
        "tolerance": TOLERANCE,
        "models": results,
    }
    out = args.out or REPO / "reports" / f"ig_completeness_{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    logger.info("wrote %s", out)


if __name__ == "__main__":
    main()
