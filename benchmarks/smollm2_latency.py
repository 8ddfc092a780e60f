"""Latency of smollm2-135m on one core: a 32-token prompt (the first 32 tokens of the Marian parity sentences
joined) plus 16 greedy tokens, with one layer's maps (layer 29, the deepest pass; all 9 heads), then the whole
answer of POST /api/attention/text for that layer as float16 (serialisation included, HTTP not); and another
layer of the same text, which reuses the remembered continuation (the page's lazy per-layer fetch).
One torch thread; median of 5 runs after a warm-up.
Writes the `smollm2` section of reports/bench.md and reports/bench_smollm2.json.
Run: .venv/bin/python -m benchmarks.smollm2_latency
"""

import statistics
import time
from pathlib import Path
from typing import Any

import orjson
import torch

from app.services.serialize import text_response
from benchmarks.ray_report import write_section
from models.serve.smollm2 import load_smollm2

RUNS = 5
PROMPT_TOKENS = 32
LAYER = 29
SENTENCES = Path(__file__).resolve().parents[1] / "tests" / "data" / "marian_parity_en.txt"


def main() -> None:
    torch.set_num_threads(1)
    model = load_smollm2()
    ids = model.tokenizer.encode(" ".join(SENTENCES.read_text().splitlines()[:10])).ids[:PROMPT_TOKENS]
    prompt = model.tokenizer.decode(ids)
    if len(model.prompt_ids(prompt)) != PROMPT_TOKENS:
        raise RuntimeError(f"the prompt re-tokenises to {len(model.prompt_ids(prompt))} tokens")
    model.attend(prompt, layers=[LAYER])  # warm-up
    totals: list[float] = []
    answers: list[float] = []
    generation: list[float] = []
    other_layer: list[float] = []
    for run in range(RUNS):
        model._generated.clear()  # a new text: decode again
        start = time.perf_counter()
        output = model.attend(prompt, layers=[LAYER])
        totals.append(time.perf_counter() - start)
        body = orjson.dumps(text_response("smollm2-135m", output, [LAYER], None, None, "f16"))
        answers.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.attend(prompt, layers=[run % 28 + 1])  # continuation remembered: one pass up to that layer
        other_layer.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.net.greedy(model.prompt_ids(prompt), 16, model.stop)
        generation.append(time.perf_counter() - start)
    generated = len(output.output_tokens or ())
    data: dict[str, Any] = {
        "prompt_tokens": PROMPT_TOKENS,
        "generated_tokens": generated,
        "layer": LAYER,
        "model_one_layer_s": round(statistics.median(totals), 3),
        "api_answer_one_layer_f16_s": round(statistics.median(answers), 3),
        "answer_bytes": len(body),
        "greedy_decoding_s": round(statistics.median(generation), 3),
        "another_layer_same_text_s": round(statistics.median(other_layer), 3),
        "torch_threads": torch.get_num_threads(),
    }
    markdown = (
        "## SmolLM2-135M: a 32-token prompt plus 16 generated tokens on one core\n\n"
        f"Prompt of {PROMPT_TOKENS} tokens, {generated} greedy tokens and layer {LAYER}'s nine maps: "
        f"**{data['model_one_layer_s']} s** (median of {RUNS}); the whole answer as float16 JSON "
        f"({data['answer_bytes'] / 1e3:.0f} kB): {data['api_answer_one_layer_f16_s']} s. Of that, greedy decoding "
        f"with the key/value cache {data['greedy_decoding_s']} s. Another layer of the same text (continuation "
        f"remembered, one pass): {data['another_layer_same_text_s']} s.\n"
    )
    write_section("smollm2", markdown, data)
    print(markdown)  # noqa: T201


if __name__ == "__main__":
    main()
