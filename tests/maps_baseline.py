"""Fixed inputs for every catalog model, and what the API answered for them before the models/ re-layout.

`python -m tests.maps_baseline` records tests/data/maps_baseline.json.gz (run it only when a served model
is meant to change, and say so in the commit); tests/test_maps_baseline.py replays every case and
compares tokens, text and every map value with the recording. A new catalog model adds its cases and
`python -m tests.maps_baseline --new` records those alone, keeping every other recording as it was;
`--new --redo m1,m2` also records the named models' cases again (retrained weights: say so in the commit).
"""

import gzip
import json
import logging
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

BASELINE = Path(__file__).parent / "data" / "maps_baseline.json.gz"

EN_ES = (
    "rnn-additive-en-es",
    "rnn-dot-en-es",
    "rnn-general-en-es",
    "rnn-concat-en-es",
    "rnn-location-en-es",
    "rnn-scaled-dot-en-es",
    "rnn-none-en-es",
    "transformer-en-es",
)

TEXT_CASES: tuple[dict[str, Any], ...] = (
    {"model": "minilm-l6", "text": "The cat sat on the mat, unbelievably."},
    {"model": "minilm-l6", "text": "The cat sat on the mat, unbelievably.", "word_level": True},
    {"model": "marian-en-pt", "text": "The old black cat slept."},
    {"model": "marian-en-pt", "text": "The old black cat slept.", "word_level": True},
    {"model": "marian-pt-en", "text": "O gato preto dormiu no sofá."},
    *({"model": m, "text": "We are eating bread."} for m in EN_ES),
    {"model": "transformer-en-es", "text": "In the beginning God created the heavens.", "word_level": True},
    {"model": "rnn-additive-en-es", "text": "Where is the train station?", "beam": 3},
    {"model": "smollm2-135m", "text": "The capital of France is", "layers": [0, 29], "heads": [0, 4, 8]},
)

IMAGE_CASES: tuple[dict[str, str], ...] = tuple(
    {"model": model, "sample": sample}
    for model in ("dinov2-s14", "captioner-sat", "captioner-transformer", "captioner-sat-cnn")
    for sample in ("chelsea", "coffee")
)


AUDIO_CASES: tuple[dict[str, str], ...] = (
    {"model": "whisper-tiny-en", "clip": "librivox-0880", "kinds": "decoder_self,cross", "layers": "3", "heads": "0,5"},
)


def sample_bytes(name: str) -> bytes:
    """The sample photo's file as the package ships it (lossless PNG: the pixels are fixed)."""
    from app.api.routes.samples import SAMPLES, sample_path

    path = sample_path(SAMPLES[name])
    if path is None:
        raise FileNotFoundError(name)
    return path.read_bytes()


def answer(client: TestClient, case: dict[str, Any]) -> dict[str, Any]:
    """The API's JSON body for one case (text, image or audio)."""
    if "clip" in case:
        from app.api.routes.audio import sample_clips

        form = {k: v for k, v in case.items() if k != "clip"}
        wav = sample_clips()[case["clip"]].path.read_bytes()
        response = client.post("/api/attention/audio", data={**form, "encoding": "json"},
                               files={"file": ("clip.wav", wav, "audio/wav")})  # fmt: skip
    elif "sample" in case:
        response = client.post(
            "/api/attention/image",
            data={"model": case["model"]},
            files={"file": (f"{case['sample']}.png", sample_bytes(case["sample"]), "image/png")},
        )
    else:
        response = client.post("/api/attention/text", json=case)
    if response.status_code != 200:
        raise RuntimeError(f"{case}: HTTP {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def main() -> None:
    import sys

    from app.main import create_app

    logging.basicConfig(level=logging.INFO)
    kept: dict[str, Any] = {}
    if "--new" in sys.argv[1:]:  # keep what is recorded, record the cases that are not
        redo = set(sys.argv[sys.argv.index("--redo") + 1].split(",")) if "--redo" in sys.argv else set()
        with gzip.open(BASELINE, "rt", encoding="utf-8") as f:
            kept = {
                json.dumps(r["case"], sort_keys=True): r["body"] for r in json.load(f) if r["case"]["model"] not in redo
            }
    with TestClient(create_app()) as client:
        records = [
            {"case": case, "body": kept.get(json.dumps(case, sort_keys=True)) or answer(client, case)}
            for case in (*TEXT_CASES, *IMAGE_CASES, *AUDIO_CASES)
        ]
    BASELINE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(BASELINE, "wt", encoding="utf-8", compresslevel=9) as f:
        json.dump(records, f, ensure_ascii=False, sort_keys=True)
    logging.getLogger(__name__).info("%d cases -> %s (%d bytes)", len(records), BASELINE, BASELINE.stat().st_size)


if __name__ == "__main__":
    main()
