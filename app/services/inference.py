"""Request -> model output: a bounded pool of inference slots, a bounded waiting line, and a
result cache keyed by (model id, weights digest, input)."""

import hashlib
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TypeVar

from app.services.cache import ResultCache
from app.services.registry import ModelRegistry
from models.catalog import AUDIO_TASKS, IMAGE_TASKS, TEXT_TASKS
from models.contract import AudioAttentionOutput, ImageAttentionOutput, TextAttentionOutput

Output = TypeVar("Output", TextAttentionOutput, ImageAttentionOutput, AudioAttentionOutput)
AnyOutput = TextAttentionOutput | ImageAttentionOutput | AudioAttentionOutput


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
        self.cache: ResultCache[AnyOutput] = ResultCache(cache_bytes)

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

    def _cached_run(self, key: Hashable, kind: type[Output], run: Callable[[], Output]) -> Output:
        """The cached answer under `key`, else run(), in an inference slot, and cache it."""
        result = self.cache.get(key)
        if isinstance(result, kind):
            return result
        with self.slot():
            flush_denormals()
            answer = run()
        self.cache.put(key, answer)
        return answer

    def text(
        self,
        model_id: str,
        text: str,
        options: Mapping[str, int] | None = None,
        layers: Sequence[int] | None = None,
        heads: Sequence[int] | None = None,
    ) -> TextAttentionOutput:
        """Run text through a text model; raises registry errors, WrongTaskError or
        the model's InputError. `options` (e.g. {"beam": 4}) must be among the model's declared options.
        layers / heads: the maps the caller will serve; a model whose spec says maps_on_request computes only
        those (every map of a long input would not fit in memory), others compute all and ignore them."""
        spec = self.registry.spec(model_id)
        if spec.task not in TEXT_TASKS:
            raise WrongTaskError(f"Model '{model_id}' is a {spec.task} model; it does not take text.")
        options = dict(options or {})
        unsupported = sorted(set(options) - set(spec.options))
        if unsupported:
            raise WrongTaskError(f"Model '{model_id}' has no option {unsupported[0]!r}; it decodes its own way.")
        model = self.registry.text_model(model_id)
        selection: dict[str, tuple[int, ...]] = {}
        if spec.maps_on_request:
            selection = {name: tuple(sorted(set(v))) for name, v in (("layers", layers), ("heads", heads)) if v}
        key = (model_id, self.registry.digest(model_id), "text", text, (*sorted(options.items()), *selection.items()))
        return self._cached_run(key, TextAttentionOutput, lambda: model.attend(text, **options, **selection))

    def image(self, model_id: str, data: bytes) -> ImageAttentionOutput:
        """Run image bytes through a vision model or a captioner; raises registry errors, WrongTaskError or
        the model's InputError (models.contract.ImageInputError for unusable bytes)."""
        spec = self.registry.spec(model_id)
        if spec.task not in IMAGE_TASKS:
            raise WrongTaskError(
                f"Model '{model_id}' is a {spec.task} model and does not take images; pick a vision model."
            )
        model = self.registry.image_model(model_id)
        key = (model_id, self.registry.digest(model_id), "image", hashlib.sha256(data).hexdigest(), ())
        return self._cached_run(key, ImageAttentionOutput, lambda: model.attend(data))

    def audio(self, model_id: str, data: bytes) -> AudioAttentionOutput:
        """Run audio bytes through a speech model; raises registry errors, WrongTaskError or the model's
        InputError (models.contract.AudioInputError for unusable bytes)."""
        spec = self.registry.spec(model_id)
        if spec.task not in AUDIO_TASKS:
            raise WrongTaskError(
                f"Model '{model_id}' is a {spec.task} model and does not take audio; pick a speech model."
            )
        model = self.registry.audio_model(model_id)
        key = (model_id, self.registry.digest(model_id), "audio", hashlib.sha256(data).hexdigest(), ())
        return self._cached_run(key, AudioAttentionOutput, lambda: model.attend(data))
