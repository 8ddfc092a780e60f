"""A bounded load test against a real uvicorn server on loopback: mixed requests from a pool of HTTP clients.

Counts statuses (5xx other than 503, and the bounded pool's 503 + Retry-After separately), latency
percentiles, and the server process's resident memory (VmRSS from /proc) after a warm-up and at the end.
Run: .venv/bin/python -m benchmarks.load [--requests 2000] [--concurrency 16] [--cache-mb 16]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
REPEATED = "The cat sat on the mat."  # the one sentence every cycle repeats: a cache hit after its first run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """`python -m uvicorn app.main:app` in its own process, so its RSS is the server's alone."""

    url: str
    process: subprocess.Popen[bytes]

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")


@contextmanager
def serve(env: dict[str, str] | None = None, start_timeout_s: float = 60.0) -> Iterator[Server]:
    """A real uvicorn server on a free loopback port, with ATTNVIZ_* overrides in `env`; stopped on exit."""
    port = free_port()
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", **(env or {})}
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], cwd=REPO, env=full_env)
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with status {process.returncode}")
            try:
                if httpx.get(server.url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {start_timeout_s:.0f} s")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Call:
    """One request of the mix."""

    label: str  # which kind of request, for the per-label counts
    method: str
    path: str
    json: dict[str, Any] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    data: dict[str, str] | None = None


def sentences(language: str) -> list[str]:
    return (DATA / f"marian_parity_{language}.txt").read_text().splitlines()


MIX_DESCRIPTION = (
    "each cycle of 20 requests: 8 minilm-l6 text requests with distinct sentences (4 all 72 maps in f16, "
    "4 one layer in u8, as the page fetches them), 2 of one repeated sentence (cache hits after the first), "
    "3 marian-en-pt and 1 marian-pt-en with distinct sentences (cross-attention, json), 1 dinov2-s14 image "
    "(chelsea, layer 11: a cache hit after the first), GET /api/models, /api/health, /api/samples, "
    "/api/concepts/positional-encoding, and 1 error (unknown model: 404)"
)


def text(model: str, base: list[str], k: int, **extra: Any) -> Call:
    """A text request on sentence k: distinct for every k (a cycle number is added once the 200 run out)."""
    sentence = base[k % len(base)] + ("" if k < len(base) else f" ({k // len(base)})")
    return Call(f"{model} {extra.get('encoding', 'json')}", "POST", "/api/attention/text",
                json={"model": model, "text": sentence, **extra})


def request_mix(n: int, offset: int = 0, photo: bytes | None = None) -> list[Call]:
    """n requests in a fixed order; `offset` shifts the sentences so two runs do not share inputs."""
    en, pt = sentences("en"), sentences("pt")
    calls: list[Call] = []
    i = offset
    while len(calls) < n:
        cycle = [
            *(text("minilm-l6", en, 8 * i + j, encoding="f16") for j in range(4)),
            *(text("minilm-l6", en, 8 * i + 4 + j, encoding="u8", layers=[j]) for j in range(4)),
            *(Call("minilm-l6 repeat", "POST", "/api/attention/text",
                   json={"model": "minilm-l6", "text": REPEATED, "encoding": "f16"}) for _ in range(2)),
            *(text("marian-en-pt", en, 3 * i + j, kinds=["cross"]) for j in range(3)),
            text("marian-pt-en", pt, i, kinds=["cross"]),
            Call("GET /api/models", "GET", "/api/models"),
            Call("GET /api/health", "GET", "/api/health"),
            Call("GET /api/samples", "GET", "/api/samples"),
            Call("GET positional-encoding", "GET", "/api/concepts/positional-encoding?length=64&d_model=128"),
            Call("unknown model (404)", "POST", "/api/attention/text", json={"model": "gpt-9", "text": "hi"}),
        ]
        if photo is not None:
            cycle.append(Call("dinov2-s14 image", "POST", "/api/attention/image",
                              files={"file": ("chelsea.jpg", photo, "image/jpeg")},
                              data={"model": "dinov2-s14", "layers": "11"}))
        calls += cycle
        i += 1
    return calls[:n]


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # transport errors and unexpected 5xx, first few

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_s)
        server_errors = sum(n for code, n in self.statuses.items() if code >= 500 and code != 503)
        return {
            "requests": self.requests,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 2),
            "throughput_rps": round(self.requests / self.seconds, 2),
            "p50_ms": round(1000 * percentile(lat, 50), 1),
            "p99_ms": round(1000 * percentile(lat, 99), 1),
            "mean_ms": round(1000 * statistics.fmean(lat), 1) if lat else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_errors_5xx_not_503": server_errors,
            "busy_503": self.statuses.get(503, 0),
            "transport_errors": sum(1 for e in self.errors if e.startswith("transport")),
            "first_errors": self.errors[:5],
        }


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def fetch_photo(url: str) -> bytes:
    return httpx.get(url + "/api/samples/chelsea", timeout=30).raise_for_status().content


def run_load(url: str, calls: list[Call], concurrency: int, timeout_s: float = 120.0) -> LoadResult:
    """Send every call from `concurrency` client threads sharing one connection pool; time each answer."""
    result = LoadResult(len(calls), concurrency, 0.0)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=url, timeout=timeout_s, limits=limits) as client:

        def one(call: Call) -> tuple[int | None, float, str | None]:
            t0 = time.perf_counter()
            try:
                response = client.request(call.method, call.path, json=call.json, files=call.files, data=call.data)
                response.read()
            except httpx.HTTPError as exc:
                return None, time.perf_counter() - t0, f"transport: {call.label}: {type(exc).__name__}: {exc}"
            problem = None
            if response.status_code >= 500 and response.status_code != 503:
                problem = f"{response.status_code}: {call.label}: {response.text[:200]}"
            return response.status_code, time.perf_counter() - t0, problem

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            for status, seconds, problem in pool.map(one, calls):
                if status is not None:
                    result.statuses[status] += 1
                result.latencies_s.append(seconds)
                if problem:
                    result.errors.append(problem)
        result.seconds = time.perf_counter() - start
    return result


def load_test(
    requests: int, concurrency: int, cache_mb: int, warmup: int, malloc_arena_max: int | None = None
) -> dict[str, Any]:
    """Warm up (models loaded, cache filled), read RSS, send `requests`, read RSS again.

    malloc_arena_max caps glibc's per-thread malloc arenas (MALLOC_ARENA_MAX); None leaves glibc's default
    (8 x cores), under which the server's RSS creeps up by fragmentation across its request threads."""
    env = {"ATTNVIZ_CACHE_MB": str(cache_mb)}
    if malloc_arena_max is not None:
        env["MALLOC_ARENA_MAX"] = str(malloc_arena_max)
    with serve(env) as server:
        rss_start = server.rss_mb()
        photo = fetch_photo(server.url)
        warm = run_load(server.url, request_mix(warmup, offset=10_000, photo=photo), concurrency)
        rss_before = server.rss_mb()
        main = run_load(server.url, request_mix(requests, photo=photo), concurrency)
        rss_after = server.rss_mb()
    return {
        "server": f"python -m uvicorn app.main:app, ATTNVIZ_CACHE_MB={cache_mb}, other settings default, "
        f"MALLOC_ARENA_MAX={malloc_arena_max or 'unset (glibc default)'}",
        "mix": MIX_DESCRIPTION,
        "warmup": warm.summary(),
        **main.summary(),
        "rss_mb_at_start": round(rss_start, 1),
        "rss_mb_after_warmup": round(rss_before, 1),
        "rss_mb_after_load": round(rss_after, 1),
        "rss_growth": round((rss_after - rss_before) / rss_before, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cache-mb", type=int, default=16, help="server result cache; filled by the warm-up")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--malloc-arena-max", type=int, default=None)
    args = parser.parse_args()
    result = load_test(args.requests, args.concurrency, args.cache_mb, args.warmup, args.malloc_arena_max)
    print(json.dumps(result, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
