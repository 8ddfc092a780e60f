"""Attribution and ablation latency on one core, side by side in one run -> reports/bench_attribution.{json,md}.

1. Integrated gradients, 32 steps, one target word of a 20-token source sentence (</s> included) through
   marian-en-pt (Captum, models/explain): median of the attribution call, and of the whole request path
   (translation, teacher-forced scorer, attribution, readout, agreement) through POST /api/attribution/text.
   Target: within 2 s. Beside it, interleaved, the same request with 128 steps: what the Explain views' retry
   (retry_steps 128) computes again for a row that misses completeness at 32 (the extra time a user waits for).
2. marian-en-pt translating the same sentence with every head vs with one head ablated (encoder layer 0,
   head 0, then cross layer 0 head 5), interleaved run by run. Target: ablated within 1.5x the unablated run.
Run: make bench  (or .venv/bin/python -m benchmarks.attribution [--reps N])
"""

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
WORDS = "The old black cat slept on the warm mat near the door while the young dog played in the garden".split()


def sentence_of_tokens(translator: Any, n_tokens: int) -> str:
    """An English sentence marian-en-pt reads as exactly n_tokens tokens (</s> included)."""
    text = ""
    for word in WORDS * 3:
        candidate = f"{text} {word}".strip()
        if len(translator.source_ids(candidate)) > n_tokens:
            break
        text = candidate
    if len(translator.source_ids(text)) != n_tokens:
        raise RuntimeError(f"could not build a {n_tokens}-token sentence")
    return text


def timed(function: Any) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    from fastapi.testclient import TestClient

    from app.core.config import Settings
    from app.main import create_app
    from models.explain.attribute import attribute
    from models.explain.families import explain_marian
    from models.serve.marian import load_en_pt

    translator = load_en_pt()
    text = sentence_of_tokens(translator, 20)
    explainable = explain_marian(translator, text)
    target = len(explainable.row_tokens) // 2
    ig = [
        timed(
            lambda: attribute(
                explainable.score, explainable.x, "integrated_gradients", [target], 32, explainable.baseline
            )
        )
        for _ in range(args.reps)
    ]
    body = {"model": "marian-en-pt", "text": text, "method": "integrated_gradients", "steps": 32, "target": target}
    with TestClient(create_app(Settings(torch_threads=1, cache_mb=0))) as client:
        client.post("/api/attribution/text", json=body).raise_for_status()  # loads the model
        retry_body = {**body, "steps": 128}
        client.post("/api/attribution/text", json=retry_body).raise_for_status()
        request, retry = [], []
        for _ in range(args.reps):  # interleaved: the machine's load hits both alike
            request.append(timed(lambda: client.post("/api/attribution/text", json=body).raise_for_status()))
            retry.append(timed(lambda: client.post("/api/attribution/text", json=retry_body).raise_for_status()))

    ablations = {"encoder_self 0.0": ("encoder_self", 0, 0), "cross 0.5": ("cross", 0, 5)}
    plain: list[float] = []
    ablated: dict[str, list[float]] = {name: [] for name in ablations}
    for _ in range(args.reps * 3):  # interleaved: the machine's load hits both sides alike
        plain.append(timed(lambda: translator.attend(text)))
        for name, (kind, layer, head) in ablations.items():
            mask = torch.ones(6 if kind == "encoder_self" else 2, 8)
            mask[layer, head] = 0.0
            ablated[name].append(timed(lambda m=mask, k=kind: translator.attend(text, {k: m})))
    median_plain = statistics.median(plain)
    results: dict[str, Any] = {
        "sentence": text,
        "source_tokens": len(translator.source_ids(text)),
        "target_row": target,
        "torch_threads": 1,
        "ig_32_steps_s": {"median": statistics.median(ig), "min": min(ig), "runs": ig},
        "ig_32_steps_request_s": {"median": statistics.median(request), "min": min(request)},
        "ig_128_steps_request_s": {"median": statistics.median(retry), "min": min(retry)},
        "translate_unablated_s": median_plain,
        "translate_ablated_s": {name: statistics.median(v) for name, v in ablated.items()},
        "ablated_over_unablated": {name: statistics.median(v) / median_plain for name, v in ablated.items()},
        "load_average": os.getloadavg(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_attribution.json").write_text(json.dumps(results, indent=1))
    lines = [
        "# Attribution and ablation latency (one torch thread)",
        "",
        f"Sentence ({results['source_tokens']} tokens): {text}",
        f"Load average during the run: {', '.join(f'{x:.1f}' for x in results['load_average'])}",
        "",
        "| measurement | median s | target |",
        "|---|---|---|",
        f"| IG 32 steps, one target word (Captum call) | {results['ig_32_steps_s']['median']:.3f} | <= 2 s |",
        f"| IG 32 steps, POST /api/attribution/text | {results['ig_32_steps_request_s']['median']:.3f} | <= 2 s |",
        f"| IG 128 steps (the Explain views' retry), POST /api/attribution/text | "
        f"{results['ig_128_steps_request_s']['median']:.3f} | |",
        f"| translate, every head | {median_plain:.4f} | |",
    ]
    for name, value in results["translate_ablated_s"].items():
        ratio = results["ablated_over_unablated"][name]
        lines.append(f"| translate, head {name} ablated | {value:.4f} ({ratio:.2f}x) | <= 1.5x |")
    (args.out / "bench_attribution.md").write_text("\n".join(lines) + "\n")
    logging.getLogger(__name__).info("\n".join(lines))


if __name__ == "__main__":
    main()
