"""Model id -> lazily loaded model, with availability and load errors for /api/models."""

import importlib.util
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from app.core.config import REPO_ROOT
from models.catalog import AUDIO_TASKS, IMAGE_TASKS, TEXT_TASKS, ModelSpec
from models.contract import AudioModel, ImageModel, ServedModel, TextModel

logger = logging.getLogger(__name__)


class UnknownModelError(KeyError):
    """No model with this id is declared."""


class ModelUnavailableError(RuntimeError):
    """The model is declared but cannot be loaded here; str() says why."""

    def __init__(self, model_id: str, reason: str) -> None:
        super().__init__(reason)
        self.model_id = model_id


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    available: bool
    loaded: bool
    reason: str | None  # why it is unavailable, None when available


class ModelRegistry:
    """Loads each model on first use, once, even when requests race for it."""

    def __init__(self, specs: Iterable[ModelSpec], torch_threads: int = 1) -> None:
        self.specs = {spec.id: spec for spec in specs}
        self.torch_threads = torch_threads
        self._models: dict[str, ServedModel] = {}
        self._digests: dict[str, str] = {}
        self._errors: dict[str, str] = {}
        self._locks = {model_id: threading.Lock() for model_id in self.specs}

    def spec(self, model_id: str) -> ModelSpec:
        try:
            return self.specs[model_id]
        except KeyError:
            raise UnknownModelError(model_id) from None

    def status(self, model_id: str) -> ModelStatus:
        spec = self.spec(model_id)
        reason = self._errors.get(model_id) or _missing_requirement(spec)
        return ModelStatus(spec, reason is None, model_id in self._models, reason)

    def statuses(self) -> list[ModelStatus]:
        return [self.status(model_id) for model_id in self.specs]

    def get(self, model_id: str) -> ServedModel:
        """The loaded model; loads it on first call. Raises UnknownModelError / ModelUnavailableError."""
        spec = self.spec(model_id)
        if model_id in self._models:
            return self._models[model_id]
        with self._locks[model_id]:
            if model_id in self._models:
                return self._models[model_id]
            if model_id in self._errors:
                raise ModelUnavailableError(model_id, self._errors[model_id])
            missing = _missing_requirement(spec)
            if missing:
                raise ModelUnavailableError(model_id, missing)
            try:
                model = self._load(spec)
            except Exception as exc:
                logger.exception("model %s failed to load", model_id)
                self._errors[model_id] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                raise ModelUnavailableError(model_id, self._errors[model_id]) from exc
            self._digests[model_id] = weights_digest(model)
            self._models[model_id] = model
            return model

    def text_model(self, model_id: str) -> TextModel:
        """get() for a model whose catalog task takes text; TypeError for another task (callers check first)."""
        return cast(TextModel, self._get_for(model_id, TEXT_TASKS))

    def image_model(self, model_id: str) -> ImageModel:
        """get() for a model whose catalog task takes images; TypeError for another task (callers check first)."""
        return cast(ImageModel, self._get_for(model_id, IMAGE_TASKS))

    def audio_model(self, model_id: str) -> AudioModel:
        """get() for a model whose catalog task takes audio; TypeError for another task (callers check first)."""
        return cast(AudioModel, self._get_for(model_id, AUDIO_TASKS))

    def _get_for(self, model_id: str, tasks: tuple[str, ...]) -> ServedModel:
        # The catalog entry's task is the promise of which protocol its loader's object follows.
        task = self.spec(model_id).task
        if task not in tasks:
            raise TypeError(f"model {model_id!r} is a {task} model, not one of {', '.join(tasks)}")
        return self.get(model_id)

    def digest(self, model_id: str) -> str:
        """Hash of the loaded model's weights (loads it if needed): a cache key that changes with them."""
        self.get(model_id)
        return self._digests[model_id]

    def _load(self, spec: ModelSpec) -> ServedModel:
        import torch  # deferred so the server starts without paying for torch

        torch.set_num_threads(self.torch_threads)
        loader = spec.loader.resolve()
        logger.info("loading model %s", spec.id)
        return loader(*spec.loader_args)


def _missing_requirement(spec: ModelSpec) -> str | None:
    for module in spec.requires:
        if importlib.util.find_spec(module) is None:
            return f"Python package {module!r} is not installed"
    for name in spec.requires_files:
        if not (REPO_ROOT / name).is_file():
            return f"{name} is missing: this model has not been trained and committed yet"
    return None


def weights_digest(model: object) -> str:
    """BLAKE2b over every parameter and buffer of the torch modules the model object holds."""
    import hashlib

    import torch

    digest = hashlib.blake2b(digest_size=16)
    for name, value in sorted(vars(model).items()):
        if isinstance(value, torch.nn.Module):
            for key, tensor in value.state_dict().items():
                digest.update(f"{name}.{key}".encode())
                digest.update(tensor.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
