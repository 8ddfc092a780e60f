"""Request -> model output: a bounded pool of inference slots, a bounded waiting line, and a
result cache keyed by (model id, weights digest, input)."""

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app.services.cache import ResultCache
from app.services.registry import ModelRegistry
from models.contract import TextAttentionOutput


class WrongTaskError(ValueError):
    """The model exists but does not take this kind of input."""


def flush_denormals() -> None:
    """Denormal activations slow CPU matrix products several-fold (measured on Marian's decoder);
    flushing them to zero changes no output we serve. The setting lives in the calling thread's FPU
    state, so it is made in the worker thread that runs the model, every time (it costs nothing)."""
    import torch

    torch.set_flush_denormal(True)


class ServiceBusyError(RuntimeError):
    """Every inference slot is taken and the waiting line is full (or the wait ran out): retry later."""

    retry_after_s = 1


class InferenceService:
    def __init__(
        self,
        registry: ModelRegistry,
        workers: int,
        max_waiting: int = 16,
        wait_timeout_s: float = 30.0,
        cache_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.registry = registry
        # More simultaneous forwards than cores only adds latency to every one of them.
        self._slots = threading.BoundedSemaphore(workers)
        self.max_waiting = max_waiting
        self.wait_timeout_s = wait_timeout_s
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self.cache = ResultCache(cache_bytes)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold an inference slot; raises ServiceBusyError instead of queueing without bound."""
        if not self._slots.acquire(blocking=False):
            with self._waiting_lock:
                if self._waiting >= self.max_waiting:
                    raise ServiceBusyError(f"{self._waiting} requests are already waiting")
                self._waiting += 1
            try:
                acquired = self._slots.acquire(timeout=self.wait_timeout_s)
            finally:
                with self._waiting_lock:
                    self._waiting -= 1
            if not acquired:
                raise ServiceBusyError(f"no inference slot freed up within {self.wait_timeout_s:.0f} s")
        try:
            yield
        finally:
            self._slots.release()

    def _cached_run(
        self, model_id: str, model: Any, what: str, data: Any, key_part: str, options: dict[str, Any] | None = None
    ) -> Any:
        options = options or {}
        key = (model_id, self.registry.digest(model_id), what, key_part, tuple(sorted(options.items())))
        result = self.cache.get(key)
        if result is None:
            with self.slot():
                flush_denormals()
                result = model.attend(data, **options)
            self.cache.put(key, result)
        return result

    def text(self, model_id: str, text: str, options: dict[str, Any] | None = None) -> TextAttentionOutput:
        """Run text through a text model; raises registry errors, WrongTaskError or
        the model's InputError. `options` (e.g. {"beam": 4}) must be among the model's declared options."""
        spec = self.registry.spec(model_id)
        if spec.task not in ("encoder", "decoder", "translation"):
            raise WrongTaskError(f"Model '{model_id}' is a {spec.task} model; it does not take text.")
        unsupported = sorted(set(options or {}) - set(spec.options))
        if unsupported:
            raise WrongTaskError(f"Model '{model_id}' has no option {unsupported[0]!r}; it decodes its own way.")
        model = self.registry.get(model_id)
        return self._cached_run(model_id, model, "text", text, text, options)

    def image(self, model_id: str, data: bytes) -> Any:
        """Run image bytes through a vision model (Dinov2ImageAttention) or a captioner (its caption
        attention); raises registry errors, WrongTaskError or the model's InputError
        (models.serve.images.ImageInputError for unusable bytes)."""
        spec = self.registry.spec(model_id)
        if spec.task not in ("vision", "captioning"):
            raise WrongTaskError(
                f"Model '{model_id}' is a {spec.task} model and does not take images; pick a vision model."
            )
        model = self.registry.get(model_id)
        return self._cached_run(model_id, model, "image", data, hashlib.sha256(data).hexdigest())
