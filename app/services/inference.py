"""Request -> model output, with a bound on how many inferences run at once."""

import threading
from typing import TYPE_CHECKING

from app.services.registry import ModelRegistry
from models.outputs import TextAttentionOutput

if TYPE_CHECKING:  # torch loads with the first model, not at start-up
    from models.dinov2 import Dinov2ImageAttention


class WrongTaskError(ValueError):
    """The model exists but does not take this kind of input."""


class InferenceService:
    def __init__(self, registry: ModelRegistry, workers: int) -> None:
        self.registry = registry
        # More simultaneous forwards than cores only adds latency to every one of them.
        self._slots = threading.BoundedSemaphore(workers)

    def slot(self) -> threading.BoundedSemaphore:
        """Hold while running a model outside text()/image(), e.g. `with inference.slot(): ...`."""
        return self._slots

    def text(self, model_id: str, text: str) -> TextAttentionOutput:
        """Run text through a text model; raises registry errors, WrongTaskError or
        the model's InputError."""
        spec = self.registry.spec(model_id)
        if spec.task not in ("encoder", "decoder", "translation"):
            raise WrongTaskError(f"Model '{model_id}' is a {spec.task} model; it does not take text.")
        model = self.registry.get(model_id)
        with self._slots:
            return model.attend(text)

    def image(self, model_id: str, data: bytes) -> "Dinov2ImageAttention":
        """Run image bytes through a vision model; raises registry errors, WrongTaskError or
        the model's InputError (models.image_preprocess.ImageInputError for unusable bytes)."""
        spec = self.registry.spec(model_id)
        if spec.task != "vision":
            raise WrongTaskError(
                f"Model '{model_id}' is a {spec.task} model and does not take images; pick a vision model."
            )
        model = self.registry.get(model_id)
        with self._slots:
            return model.attend(data)
