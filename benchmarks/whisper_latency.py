"""Latency of whisper-tiny-en on one core: a 5.0 s clip (the first 5 s of the LibriVox clip 0870 of Debian
pocketsphinx-testdata) through the model with every map (encoder self-, decoder self- and cross-attention of all
4 layers x 6 heads, word timings), then the whole answer of POST /api/attention/audio with all three kinds as
float16 (serialisation included, HTTP not). One torch thread; median of 5 runs after a warm-up.
Writes the `whisper` section of reports/bench.md and reports/bench_whisper.json.
Run: .venv/bin/python -m benchmarks.whisper_latency
"""

import statistics
import time
from typing import Any

import orjson
import torch

from app.api.routes.audio import sample_clips
from app.services.audio import audio_response
from benchmarks.ray_report import write_section
from models.evaluate.word_timing import wav_bytes
from models.serve.audio import SAMPLE_RATE, decode_audio, log_mel
from models.serve.whisper import load_whisper_tiny_en

RUNS = 5
SECONDS = 5.0


def main() -> None:
    torch.set_num_threads(1)
    model = load_whisper_tiny_en()
    source = sample_clips()["librivox-0870"].path.read_bytes()
    clip = wav_bytes(decode_audio(source).samples[: int(SECONDS * SAMPLE_RATE)])
    model.attend(clip)  # warm-up
    totals: list[float] = []
    answers: list[float] = []
    parts: dict[str, list[float]] = {"decode + log-mel": [], "encoder": [], "greedy decoding": []}
    kinds = ["encoder_self", "decoder_self", "cross"]
    for _ in range(RUNS):
        start = time.perf_counter()
        output = model.attend(clip)
        totals.append(time.perf_counter() - start)
        body = orjson.dumps(audio_response("whisper-tiny-en", output, kinds, None, None, "f16"))
        answers.append(time.perf_counter() - start)
        start = time.perf_counter()
        mel = log_mel(decode_audio(clip).samples)
        marks = [time.perf_counter()]
        with torch.inference_mode():
            audio, _ = model.encode(mel)
            marks.append(time.perf_counter())
            model.greedy(audio)
            marks.append(time.perf_counter())
        for name, value in zip(parts, (marks[0] - start, marks[1] - marks[0], marks[2] - marks[1]), strict=True):
            parts[name].append(value)
    data: dict[str, Any] = {
        "clip_seconds": SECONDS,
        "tokens": len(output.tokens),
        "words": len(output.words),
        "model_with_all_maps_s": round(statistics.median(totals), 3),
        "api_answer_all_maps_f16_s": round(statistics.median(answers), 3),
        "answer_bytes": len(body),
        "parts_s": {name: round(statistics.median(values), 3) for name, values in parts.items()},
        "torch_threads": torch.get_num_threads(),
    }
    markdown = (
        "## Whisper tiny.en: a 5 s clip on one core\n\n"
        f"Transcript and every map (4 layers x 6 heads of encoder self-, decoder self- and cross-attention) plus word "
        f"timings: **{data['model_with_all_maps_s']} s** (median of {RUNS}); the whole answer with all maps as "
        f"float16 JSON ({data['answer_bytes'] / 1e6:.1f} MB): {data['api_answer_all_maps_f16_s']} s. Parts: "
        + ", ".join(f"{k} {v} s" for k, v in data["parts_s"].items())
        + f". {data['tokens']} decoder positions, {data['words']} words.\n"
    )
    write_section("whisper", markdown, data)
    print(markdown)  # noqa: T201


if __name__ == "__main__":
    main()
