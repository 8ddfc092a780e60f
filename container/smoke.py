"""Check a running attnviz container: /api/health, then one attention request per family (text encoder,
translation, image). Exit status 0 only when every answer is right.

Usage: python container/smoke.py http://127.0.0.1:8000 [--wait 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid


def call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 300) -> bytes:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def post_json(url: str, body: dict) -> dict:
    return json.loads(call(url, json.dumps(body).encode(), {"Content-Type": "application/json"}))


def post_image(url: str, model: str, image: bytes, name: str = "s.jpg", media: str = "image/jpeg") -> dict:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n{model}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {media}\r\n\r\n".encode()
        + image
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return json.loads(call(url, b"".join(parts), headers))


def wait_healthy(base: str, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return json.loads(call(base + "/api/health", timeout=5))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def say(line: str, stream: object = sys.stdout) -> None:
    stream.write(line + "\n")  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for /api/health")
    args = parser.parse_args()
    base = args.base.rstrip("/")
    started = time.monotonic()
    health = wait_healthy(base, args.wait)
    say(f"health after {time.monotonic() - started:.0f} s: {health}")
    failures = []
    checks = [
        ("text", lambda: post_json(base + "/api/attention/text", {"model": "minilm-l6", "text": "The cat sat."})),
        (
            "translation",
            lambda: post_json(
                base + "/api/attention/text", {"model": "marian-en-pt", "text": "The old black cat slept."}
            ),
        ),  # fmt: skip
        (
            "image",
            lambda: post_image(base + "/api/attention/image", "dinov2-s14", call(base + "/api/samples/chelsea")),
        ),  # fmt: skip
        (
            "decoder",
            lambda: post_json(base + "/api/attention/text",
                              {"model": "smollm2-135m", "text": "The capital of France is", "layers": [29]}),
        ),  # fmt: skip
        (
            "speech",
            lambda: post_image(base + "/api/attention/audio", "whisper-tiny-en",
                               call(base + "/api/audio-samples/cards-001"), "clip.wav", "audio/wav"),
        ),  # fmt: skip
    ]
    for family, check in checks:
        start = time.monotonic()
        try:
            answer = check()
        except urllib.error.HTTPError as error:
            failures.append(f"{family}: HTTP {error.code} {error.read()[:300]!r}")
            continue
        ok = bool(answer.get("maps"))
        summary = (answer.get("output_text") or answer.get("caption") or answer.get("transcript")
                   or f"{len(json.dumps(answer))} bytes")
        say(f"{family}: {'ok' if ok else 'NO MAPS'} in {time.monotonic() - start:.1f} s: {str(summary)[:80]}")
        if not ok:
            failures.append(f"{family}: no maps in {sorted(answer)}")
    for failure in failures:
        say(f"FAIL {failure}", sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
