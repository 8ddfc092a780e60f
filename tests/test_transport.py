"""Compact encodings, gzip, the result cache and the bounded inference pool."""

import threading
import time

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.services.cache import ResultCache, tensor_bytes
from app.services.encoding import decode_values, encode_values
from app.services.registry import ModelRegistry
from models.catalog import CATALOG, LoaderRef, ModelSpec
from models.contract import AttentionStack, TextAttentionOutput

CALLS: list[str] = []
GATE = threading.Event()


class CountingModel:
    """Answers instantly (or when GATE opens) and counts its calls."""

    def __init__(self, wait: bool) -> None:
        self.wait = wait

    def attend(self, text: str) -> TextAttentionOutput:
        CALLS.append(text)
        if self.wait:
            GATE.wait(timeout=10)
        tokens = tuple(text.split())
        weights = torch.full((1, 1, len(tokens), len(tokens)), 1 / len(tokens))
        return TextAttentionOutput(tokens, None, None, (AttentionStack("self", weights, tokens, tokens),))


def load_counting() -> CountingModel:
    return CountingModel(wait=False)


def load_waiting() -> CountingModel:
    return CountingModel(wait=True)


def spec(model_id: str, loader: LoaderRef) -> ModelSpec:
    return ModelSpec(id=model_id, task="encoder", description="test", layers=1, heads=1, attention_kinds=("self",),
                     loader=loader, requires=(), source="tests", license="none")


def test_encodings_round_trip_within_their_error_bounds() -> None:
    values = np.random.default_rng(0).dirichlet(np.ones(7), size=5)  # (5, 7), rows sum to 1
    exact = decode_values(encode_values(values, "json"), (5, 7))
    assert np.abs(exact - values).max() <= 5e-7
    half = decode_values(encode_values(values, "f16"), (5, 7))
    assert np.abs(half - values).max() <= values.max() * 2**-11
    u8 = encode_values(values, "u8")
    assert u8["dtype"] == "uint8" and u8["offset"] == 0.0
    assert np.abs(decode_values(u8, (5, 7)) - values).max() <= u8["scale"] / 2 + 1e-12


@pytest.mark.parametrize("encoding", ["f16", "u8"])
def test_api_encodings_are_smaller_and_decode_to_the_json_values(client: TestClient, encoding: str) -> None:
    text = "Attention maps travel as compact arrays when the client asks for them."
    exact = client.post("/api/attention/text", json={"model": "minilm-l6", "text": text})
    packed = client.post("/api/attention/text", json={"model": "minilm-l6", "text": text, "encoding": encoding})
    assert packed.status_code == 200
    assert len(packed.content) < 0.5 * len(exact.content)
    for a, b in zip(exact.json()["maps"], packed.json()["maps"], strict=True):
        assert b["values"] is None and b["dtype"] == {"f16": "float16", "u8": "uint8"}[encoding]
        got = decode_values(b, tuple(b["shape"]))
        tolerance = 1e-3 if encoding == "f16" else b["scale"] / 2 + 1e-6
        assert np.abs(got - np.asarray(a["values"])).max() <= tolerance


def test_large_responses_are_gzipped(client: TestClient) -> None:
    r = client.post("/api/attention/text", json={"model": "minilm-l6", "text": "The cat sat on the mat."},
                    headers={"accept-encoding": "gzip"})
    assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip"
    assert int(r.headers["content-length"]) < len(r.content)  # httpx has already inflated it


def test_repeated_requests_are_served_from_the_cache() -> None:
    CALLS.clear()
    registry = ModelRegistry([spec("counting", LoaderRef("tests.test_transport", "load_counting"))])
    with TestClient(create_app(registry=registry)) as client:
        for layers in (None, [0], None):
            body = {"model": "counting", "text": "one two three", **({"layers": layers} if layers else {})}
            assert client.post("/api/attention/text", json=body).status_code == 200
        assert CALLS == ["one two three"]
        client.post("/api/attention/text", json={"model": "counting", "text": "four five"})
        assert CALLS == ["one two three", "four five"]
        cache = client.app.state.inference.cache  # type: ignore[attr-defined]
        assert cache.hits == 2 and len(cache) == 2


def test_cache_is_bounded_by_bytes() -> None:
    cache = ResultCache(max_bytes=3 * 400)
    for i in range(5):
        cache.put(i, torch.zeros(100))  # 400 bytes each
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) is not None
    assert cache.size_bytes == 1200 and tensor_bytes((torch.zeros(2), np.zeros(3))) == 8 + 24
    cache.put("huge", torch.zeros(1000))
    assert cache.get("huge") is None and len(cache) == 3


def test_full_waiting_line_gets_503_with_retry_after() -> None:
    CALLS.clear()
    GATE.clear()
    registry = ModelRegistry([*CATALOG, spec("slow", LoaderRef("tests.test_transport", "load_waiting"))])
    settings = Settings(inference_workers=1, max_waiting=0, wait_timeout_s=5)
    with TestClient(create_app(settings, registry)) as client:
        first = threading.Thread(
            target=lambda: client.post("/api/attention/text", json={"model": "slow", "text": "holds the slot"})
        )
        first.start()
        deadline = time.monotonic() + 10
        while not CALLS and time.monotonic() < deadline:
            time.sleep(0.01)
        r = client.post("/api/attention/text", json={"model": "slow", "text": "has to wait"})
        GATE.set()
        first.join(timeout=10)
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1" and "busy" in r.json()["detail"]
        assert client.post("/api/attention/text", json={"model": "slow", "text": "now free"}).status_code == 200
