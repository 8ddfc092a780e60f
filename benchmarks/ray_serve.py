"""Ray Serve with N replicas against the plain one-process server, on the load test's fixed request mix.

Both servers run with the same settings and the same total number of inference slots (the plain
server's default 2; each Ray replica gets 2 / N), one torch thread per forward, and get the same
warm-up (models loaded, caches filled) and then the same requests at the same concurrency, one after
the other in this run. Counts 5xx (other than the bounded pool's 503) and reports throughput, p50 and
p99. Writes the `ray_serve` section of reports/bench.md and reports/bench_ray_serve.json.
Run: .venv/bin/python -m benchmarks.ray_serve [--requests 600] [--concurrency 16] [--replicas 2]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from app.scale.ray_serve import haproxy_pids, stop_haproxy_started_since
from benchmarks import load
from benchmarks.ray_report import write_section

SETTINGS = {"ATTNVIZ_CACHE_MB": "16"}


@contextmanager
def ray_server(replicas: int, start_timeout_s: float = 300.0, ingress: str = "auto") -> Iterator[str]:
    """`attnviz serve --ray --replicas N` in its own process group; stopped with Ctrl-C (Ray shuts down)."""
    port = load.free_port()
    slots = str(max(1, 2 // replicas))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", **SETTINGS}
    env["ATTNVIZ_INFERENCE_WORKERS"] = slots
    command = [sys.executable, "-m", "app.cli", "serve", "--ray", "--replicas", str(replicas), "--port", str(port),
               "--ingress", ingress]  # fmt: skip
    before = haproxy_pids()
    process = subprocess.Popen(command, cwd=load.REPO, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"attnviz serve --ray exited with status {process.returncode}")
            try:
                if httpx.get(url + "/api/health", timeout=2).json().get("replicas") == replicas:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Ray Serve did not answer within {start_timeout_s:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGINT)  # KeyboardInterrupt: serve.run and ray shut down
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        stop_haproxy_started_since(before)  # the server does this on Ctrl-C; not when it had to be killed


def measure(url: str, requests: int, concurrency: int, warmup: int) -> dict[str, Any]:
    photo = load.fetch_photo(url)
    load.run_load(url, load.request_mix(warmup, offset=10_000, photo=photo), concurrency)
    return load.run_load(url, load.request_mix(requests, photo=photo), concurrency).summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--no-report", action="store_true", help="print only; leave reports/ alone")
    args = parser.parse_args()
    with load.serve(SETTINGS) as server:
        plain = measure(server.url, args.requests, args.concurrency, args.warmup)
    runs: dict[str, dict[str, Any]] = {}
    ingresses = (["haproxy"] if shutil.which("haproxy") else []) + ["proxy"]
    for ingress in ingresses:
        with ray_server(args.replicas, ingress=ingress) as url:
            runs[ingress] = measure(url, args.requests, args.concurrency, args.warmup)
    best = runs[ingresses[0]]
    result = {
        "mix": load.MIX_DESCRIPTION,
        "settings": {**SETTINGS, "inference slots in total": 2, "torch threads per forward": 1},
        "plain": plain,
        "ray_serve": {"replicas": args.replicas, "ingress": ingresses[0], **best},
        "ray_serve_by_ingress": {k: {"throughput_ratio": round(r["throughput_rps"] / plain["throughput_rps"], 3),
                                     "p99_ratio": round(r["p99_ms"] / plain["p99_ms"], 3), **r}
                                 for k, r in runs.items()},  # fmt: skip
        "throughput_ratio": round(best["throughput_rps"] / plain["throughput_rps"], 3),
        "p99_ratio": round(best["p99_ms"] / plain["p99_ms"], 3),
        "targets": "no 5xx; throughput >= 0.8x plain; p99 <= 1.5x plain (idle 2-core machine)",
    }
    names = {"haproxy": "HAProxy ingress (default)", "proxy": "Ray Serve's Python proxy"}
    rows = "\n".join(
        f"| {name} | {r['throughput_rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['server_errors_5xx_not_503']} "
        f"| {r['busy_503']} |"
        for name, r in (("plain server, 1 process", plain),
                        *((f"Ray Serve, {args.replicas} replicas, {names[k]}", r) for k, r in runs.items()))
    )  # fmt: skip
    ratios = "; ".join(
        f"{names[k]}: throughput **{v['throughput_ratio']}x**, p99 **{v['p99_ratio']}x**"
        for k, v in result["ray_serve_by_ingress"].items()
    )
    markdown = f"""## Ray Serve replicas vs the plain server

{args.requests} requests of the fixed mix at concurrency {args.concurrency} after {args.warmup} warm-up requests;
2 inference slots in total on both, one torch thread per forward, result cache 16 MB (per replica on Ray).

| server | req/s | p50 ms | p99 ms | 5xx (not 503) | 503 busy |
|---|---:|---:|---:|---:|---:|
{rows}

Ray / plain ({ratios}); targets: throughput >= 0.8x, p99 <= 1.5x. Command: `python -m benchmarks.ray_serve`."""
    print(json.dumps(result, indent=2))  # noqa: T201
    if not args.no_report:
        write_section("ray_serve", markdown, result)


if __name__ == "__main__":
    main()
