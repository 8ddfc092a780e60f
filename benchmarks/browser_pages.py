"""Browser benchmark of the text page in headless Chromium (Debian's, driven by Playwright).

For MiniLM at 13 and 512 tokens, against a real uvicorn server on loopback:
- response to first heatmap: from the end of the page's first POST /api/attention/text (Resource Timing
  in the worker that fetches it, passed to the page as its `attnviz:response` User Timing mark) to the
  frame after the heatmap is drawn (the page's `attnviz:heatmap` mark);
- longest main-thread task from that response until the page says every map is loaded (Long Tasks API;
  tasks under 50 ms are not reported by the API, so "0" means none over 50 ms);
- at 512 tokens, each view switch (layer, head, merge subwords, rollout) timed from the change event to
  the frame after it is drawn, p50 and p95 over repeated switches; the first rollout (computed once) apart.
Writes reports/browser_bench.json and its own section of reports/bench.md (other sections are kept).
Run: make bench   (or .venv/bin/python -m benchmarks.browser_pages [--quick])
"""

import argparse
import json
import re
import shutil
import statistics
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Request, expect, sync_playwright

from benchmarks import load
from tests.browser import CHROMIUM_FLAGS

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "reports"
SECTION = "## Browser: the text page in headless Chromium"
THIRTEEN = "The quick brown fox jumps over the lazy dog today."  # 13 MiniLM tokens with [CLS] and [SEP]
LONG = "The cat sat on the mat. " * 72 + "The cat sat on the mat"  # 512 tokens, 1,750 characters

OBSERVE_LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
}).observe({ type: "longtask", buffered: true });
"""

TIMINGS = """() => {
  const mark = performance.getEntriesByName("attnviz:heatmap")[0];
  const answered = performance.getEntriesByName("attnviz:response")[0];
  const response = answered ? answered.startTime : null;
  const after = window.__longTasks.filter((t) => response !== null && t.start + t.duration >= response);
  return {
    response_to_heatmap_ms: mark && response !== null ? mark.startTime - response : null,
    longest_task_ms: after.reduce((m, t) => Math.max(m, t.duration), 0),
  };
}"""

# Sets a control, fires its change event, and waits for the frame after the redraw.
SWITCH = """async ([selector, value]) => {
  const control = document.querySelector(selector);
  const t0 = performance.now();
  if (control.type === "checkbox") control.checked = value === "on";
  else control.value = value;
  control.dispatchEvent(new Event("change", { bubbles: true }));
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return performance.now() - t0;
}"""


def tokens_in_status(page: Page) -> int:
    match = re.search(r"(\d+) tokens", page.locator("#status").text_content() or "")
    return int(match.group(1)) if match else -1


def load_once(page: Page, url: str, text: str) -> dict[str, Any]:
    posts: list[str] = []

    def count(request: Request) -> None:
        if request.method == "POST" and "/api/attention/" in request.url:
            posts.append(request.url)

    page.on("request", count)
    page.goto(url + "/?model=minilm-l6")
    expect(page.locator("#model")).to_have_value("minilm-l6")
    page.fill("#text", text)
    page.press("#text", "Enter")
    expect(page.locator("#status")).to_contain_text("72 maps.", timeout=180_000)
    figures: dict[str, Any] = page.evaluate(TIMINGS)
    figures["tokens"] = tokens_in_status(page)
    figures["posts"] = len(posts)
    page.remove_listener("request", count)
    return figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def switches(page: Page, rounds: int, cold: bool = False) -> dict[str, Any]:
    """Times view switches on the loaded 512-token answer. cold: the page keeps no computed view (head mean,
    merged words), so every switch recomputes what it shows; else a view seen before is redrawn from memory."""
    page.evaluate("(off) => { document.documentElement.dataset.viewCache = off ? 'off' : 'on'; }", cold)
    out: dict[str, Any] = {}
    page.evaluate(SWITCH, ["#head", "0"])
    page.evaluate(SWITCH, ["#layer", "5"])
    out["first_rollout_ms"] = page.evaluate(SWITCH, ["#head", "rollout"])
    plans = {
        "layer": [("#layer", str(i % 6)) for i in range(rounds)],
        "head": [("#head", str(i % 12)) for i in range(rounds)],
        "merge": [("#merge", "on" if i % 2 == 0 else "off") for i in range(rounds)],
        "rollout": [(s, v) for i in range(rounds // 2) for s, v in (("#head", "rollout"), ("#head", "mean"))],
    }
    for name, steps in plans.items():
        if name == "rollout":
            page.evaluate(SWITCH, ["#layer", "5"])
        times = [page.evaluate(SWITCH, [selector, value]) for selector, value in steps]
        out[name] = {"switches": len(times), "p50_ms": statistics.median(times), "p95_ms": percentile(times, 0.95)}
    return out


def run(quick: bool) -> dict[str, Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium is not installed: run `make chromium`.")
    repeats = 1 if quick else 3
    report: dict[str, Any] = {"chromium": chromium, "viewport": "1400 x 1000", "repeats": repeats, "loads": {}}
    with load.serve() as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        report["browser_version"] = browser.version
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(OBSERVE_LONG_TASKS)
        page = context.new_page()
        load_once(page, server.url, THIRTEEN)  # warm-up: model loaded, caches filled
        for name, text in (("13 tokens", THIRTEEN), ("512 tokens", LONG)):
            runs = [load_once(page, server.url, text) for _ in range(repeats)]
            report["loads"][name] = {
                "tokens": runs[0]["tokens"],
                "posts": runs[0]["posts"],
                "response_to_heatmap_ms": statistics.median(r["response_to_heatmap_ms"] for r in runs),
                "longest_task_ms": max(r["longest_task_ms"] for r in runs),
            }
        report["switches_512"] = switches(page, 10 if quick else 40)
        report["switches_512_cold"] = switches(page, 10 if quick else 40, cold=True)
        browser.close()
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        SECTION,
        "",
        f"Chromium {report['browser_version']} ({report['chromium']}), headless, {report['viewport']} px, MiniLM "
        "(minilm-l6) against a uvicorn server on loopback (default settings). Reproduce: "
        "`.venv/bin/python -m benchmarks.browser_pages` (run by `make bench`).",
        "",
        "| input | POSTs | response to first heatmap (ms, median of "
        f"{report['repeats']}) | longest main-thread task after the response (ms) |",
        "|---|---|---|---|",
    ]
    for name, r in report["loads"].items():
        lines.append(
            f"| {name} ({r['tokens']}) | {r['posts']} | {r['response_to_heatmap_ms']:.0f} | "
            f"{r['longest_task_ms']:.0f} |"
        )
    s, cold = report["switches_512"], report["switches_512_cold"]
    lines += [
        "",
        "Longest task: Long Tasks API entries (tasks of 50 ms or more) from the end of the first response until "
        "every map is loaded; 0 means none reached 50 ms.",
        "",
        "| view switch at 512 tokens | switches | p50 ms | p95 ms | cold p50 ms | cold p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("layer", "head", "merge", "rollout"):
        lines.append(
            f"| {name} | {s[name]['switches']} | {s[name]['p50_ms']:.0f} | {s[name]['p95_ms']:.0f} | "
            f"{cold[name]['p50_ms']:.0f} | {cold[name]['p95_ms']:.0f} |"
        )
    lines += [
        "",
        f"First rollout (computed once for all six layers, then cached): {s['first_rollout_ms']:.0f} ms. A switch is "
        "timed from the change event to the frame after the redraw. The page keeps the last 12 computed views "
        "(head mean or max, merged words) of an answer, so switching back redraws from memory; the cold columns "
        "turn that off, so every switch recomputes the view it shows.",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replaces this benchmark's section of reports/bench.md (or appends it), keeping every other section."""
    path = REPORTS / "bench.md"
    old = path.read_text() if path.exists() else "# attnviz benchmarks\n"
    start = old.find(SECTION)
    if start == -1:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        following = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + (old[following + 1 :] if following != -1 else "")
    path.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one load per input and fewer switches")
    args = parser.parse_args()
    report = run(args.quick)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "browser_bench.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    write_section(text)
    print(text)  # noqa: T201


if __name__ == "__main__":
    main()
