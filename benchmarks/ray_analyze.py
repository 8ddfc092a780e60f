"""The corpus head analysis on Ray Data at 1 and 2 workers against a plain single-process loop, same sentences.

Each mode runs the whole job from an empty folder, end to end as a user runs it (Ray start-up, model
loading in every worker, every shard, the merge), in one process run, side by side; the summaries of
all modes must be identical (the benchmark fails otherwise). Writes the `ray_analyze` section of
reports/bench.md and reports/bench_ray_analyze.json.
Run: .venv/bin/python -m benchmarks.ray_analyze [--sentences 2000] [--model minilm-l6] [--corpus mix-dev]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from app.scale.analyze import run_analysis
from app.scale.corpus import load_corpus
from benchmarks.ray_report import write_section


def timed_run(model: str, corpus: Any, out: Path, workers: int | None, shard_size: int) -> tuple[float, dict]:
    start = time.perf_counter()
    summary = run_analysis(
        model, corpus, out, workers=workers or 1, shard_size=shard_size, use_ray=workers is not None, progress=False
    )
    seconds = time.perf_counter() - start
    data = json.loads(summary.read_text())
    del data["created"]
    return seconds, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--corpus", default="mix-dev", help="built-in name or text file (default mix-dev)")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--shard-size", type=int, default=200)  # 10 shards of 2,000: less per-task overhead
    parser.add_argument("--no-report", action="store_true", help="print only; leave reports/ alone")
    args = parser.parse_args()
    corpus = load_corpus(args.corpus, args.sentences)
    modes: list[tuple[str, int | None]] = [("plain loop, 1 process", None), ("Ray, 1 worker", 1), ("Ray, 2 workers", 2)]
    rows, outputs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, workers) in enumerate(modes):
            seconds, data = timed_run(args.model, corpus, Path(tmp) / str(k), workers, args.shard_size)
            rows.append({"mode": label, "workers": workers, "seconds": round(seconds, 2)})
            outputs.append(data)
            print(f"{label}: {seconds:.1f} s")  # noqa: T201
    if any(o != outputs[0] for o in outputs[1:]):
        raise SystemExit("the modes disagree: the Ray summaries differ from the plain loop's")
    plain, ray1, ray2 = (r["seconds"] for r in rows)
    result = {
        "model": args.model,
        "corpus": corpus.description,
        "sentences": len(corpus.sentences),
        "shard_size": args.shard_size,
        "runs": rows,
        "ray1_over_plain": round(ray1 / plain, 3),
        "speedup_2_over_1_workers": round(ray1 / ray2, 3),
        "identical_summaries": True,
        "targets": "Ray 1 worker <= 1.25x plain; 2 workers >= 1.5x faster than 1 (idle 2-core machine)",
    }
    table = "\n".join(f"| {r['mode']} | {r['seconds']:.1f} |" for r in rows)
    markdown = f"""## Corpus head analysis: Ray Data vs a plain loop

`{args.model}` on {len(corpus.sentences)} sentences ({corpus.description}), shards of {args.shard_size}; each mode
end to end from an empty folder (Ray start-up, model load per worker, the merge); summaries identical in all modes.

| mode | seconds |
|---|---:|
{table}

Ray at 1 worker / plain loop: **{result["ray1_over_plain"]}x** (target <= 1.25x); 2 workers vs 1:
**{result["speedup_2_over_1_workers"]}x faster** (target >= 1.5x). Command: `python -m benchmarks.ray_analyze`."""
    print(json.dumps(result, indent=2))  # noqa: T201
    if not args.no_report:
        write_section("ray_analyze", markdown, result)


if __name__ == "__main__":
    main()
