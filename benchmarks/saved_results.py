"""Saved results: how many bytes a 128-token MiniLM result with all 72 maps takes in the store, and how long
opening it takes on the server (GET /api/results/{id} through a live uvicorn server: the store read, unpacking
and the JSON answer, timed as the whole loopback round trip with the body read as bytes, not parsed, and no
gzip: an upper bound of the server's time; median of 20). Targets (issue 16): at most 2 MB, under 300 ms.
Writes the `saved_results` section of reports/bench.md and reports/bench_saved_results.json.
Run: .venv/bin/python -m benchmarks.saved_results
"""

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from app.core.config import Settings
from app.main import create_app
from benchmarks.ray_report import write_section
from tests.conftest import serve

TEXT = "The quick brown fox jumps over the lazy dog while the cat sleeps. " * 9  # 128 MiniLM tokens


def main() -> None:
    settings = Settings(results_db=Path(tempfile.mkdtemp()) / "results.db")
    app = create_app(settings)
    with serve(app) as url, httpx.Client(base_url=url, timeout=120) as http:
        answer = http.post("/api/attention/text", json={"model": "minilm-l6", "text": TEXT, "encoding": "f16"})
        tokens, maps = len(answer.json()["input_tokens"]), len(answer.json()["maps"])
        saved = http.post("/api/results/text", json={"model": "minilm-l6", "text": TEXT}).json()
        times = []
        for _ in range(20):  # whole round trip, body read as bytes (not parsed), no gzip: an upper bound
            start = time.perf_counter()
            http.get(f"/api/results/{saved['id']}", headers={"Accept-Encoding": "identity"}).raise_for_status()
            times.append(time.perf_counter() - start)
        store = app.state.results
        reads = []
        for _ in range(20):
            start = time.perf_counter()
            store.get(saved["id"])
            reads.append(time.perf_counter() - start)
    data = {
        "tokens": tokens, "maps": maps, "stored_bytes": saved["bytes"],
        "open_ms_median": round(1000 * statistics.median(times), 1),
        "store_read_ms_median": round(1000 * statistics.median(reads), 1),
        "targets": "stored <= 2 MB; opened in < 300 ms server time",
    }  # fmt: skip
    markdown = (
        "## Saved results (permanent links)\n\n"
        f"A {tokens}-token MiniLM result with all {maps} maps: stored in {data['stored_bytes']:,} bytes (float16 maps, "
        "byte-shuffled and zlib-compressed; target 2 MB). Opening it (GET /api/results/{id} on a local uvicorn "
        "server, whole round trip without gzip, body not parsed, median of 20): "
        f"{data['open_ms_median']} ms, of which reading and unpacking "
        f"the row takes {data['store_read_ms_median']} ms (target 300 ms). "
        "Reproduce: `.venv/bin/python -m benchmarks.saved_results`."
    )
    write_section("saved_results", markdown, data)
    print(markdown)  # noqa: T201


if __name__ == "__main__":
    main()
