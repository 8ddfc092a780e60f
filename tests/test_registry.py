"""The model registry: lazy, once-only loading and honest availability."""

import json
import threading
from importlib.util import find_spec
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services.registry import ModelRegistry, ModelUnavailableError, UnknownModelError
from models.catalog import CATALOG, RNN_CATALOG, TRANSFORMER_EN_ES, LoaderRef, ModelSpec, hf_spec

LOADS: list[str] = []


class FakeModel:
    def attend(self, text: str) -> None:  # never called in these tests
        raise AssertionError


def load_fake() -> FakeModel:
    LOADS.append("fake")
    return FakeModel()


def load_broken() -> FakeModel:
    raise OSError("weights file model.bin is missing")


def spec(model_id: str, loader: LoaderRef, requires: tuple[str, ...] = ()) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        task="encoder",
        description="test model",
        layers=1,
        heads=1,
        attention_kinds=("self",),
        loader=loader,
        requires=requires,
        source="tests",
        license="none",
    )


def test_catalog_ids_are_unique_and_complete() -> None:
    ids = [s.id for s in CATALOG]
    assert len(ids) == len(set(ids))
    assert "minilm-l6" in ids
    for s in CATALOG:
        assert s.loader.module.startswith("models.serve.") and s.layers > 0 and s.heads > 0 and s.attention_kinds


def test_every_loader_reference_resolves_to_a_function() -> None:
    """Each entry's loader module imports (torch with it) and names a function; no model is loaded."""
    LOADS.clear()
    installed = [s for s in (*CATALOG, *RNN_CATALOG, TRANSFORMER_EN_ES) if all(find_spec(m) for m in s.requires)]
    assert {s.id for s in installed} >= {"minilm-l6", "dinov2-s14"}
    for ref in {s.loader for s in installed}:
        assert callable(ref.resolve()), ref
    assert callable(LoaderRef("tests.test_registry", "load_fake").resolve()) and LOADS == []
    with pytest.raises(AttributeError):
        LoaderRef("models.serve.bert", "load_nothing").resolve()
    with pytest.raises(TypeError, match="not a function"):
        LoaderRef("models.serve.bert", "__doc__").resolve()


@pytest.mark.parametrize(
    ("config", "loader"),
    [
        ({"model_type": "bert"}, LoaderRef("models.serve.hf_text", "load_hf_folder")),
        ({"model_type": "vit"}, LoaderRef("models.serve.hf_vision", "load_hf_vision_folder")),
    ],
)
def test_hf_spec_loader_follows_the_folder_kind(tmp_path: Path, config: dict[str, str], loader: LoaderRef) -> None:
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 2, "num_attention_heads": 2}))
    spec = hf_spec("x", tmp_path)
    assert spec.loader == loader and callable(spec.loader.resolve())


def test_lazy_load_happens_once_under_concurrency() -> None:
    LOADS.clear()
    registry = ModelRegistry([spec("fake", LoaderRef("tests.test_registry", "load_fake"))])
    assert not registry.status("fake").loaded
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(registry.get("fake"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert LOADS == ["fake"]
    assert len({id(m) for m in got}) == 1
    assert registry.status("fake").loaded


def test_failed_load_is_reported_and_others_keep_working() -> None:
    registry = ModelRegistry(
        [
            spec("broken", LoaderRef("tests.test_registry", "load_broken")),
            spec("fake", LoaderRef("tests.test_registry", "load_fake")),
        ]
    )
    with pytest.raises(ModelUnavailableError, match="model.bin is missing"):
        registry.get("broken")
    status = registry.status("broken")
    assert not status.available and status.reason and "model.bin is missing" in status.reason
    assert isinstance(registry.get("fake"), FakeModel)


def test_missing_package_marks_model_unavailable() -> None:
    ghost = spec("ghost", LoaderRef("tests.test_registry", "load_fake"), requires=("no_such_pkg_xyz",))
    registry = ModelRegistry([ghost])
    status = registry.status("ghost")
    assert not status.available and "no_such_pkg_xyz" in (status.reason or "")


def test_unknown_id() -> None:
    with pytest.raises(UnknownModelError):
        ModelRegistry([]).get("nope")


def test_unloadable_model_gives_503_and_listing_says_why() -> None:
    registry = ModelRegistry([*CATALOG, spec("broken", LoaderRef("tests.test_registry", "load_broken"))])
    with TestClient(create_app(registry=registry)) as client:
        r = client.post("/api/attention/text", json={"model": "broken", "text": "hello"})
        assert r.status_code == 503
        assert "model.bin is missing" in r.json()["detail"]
        listing = {m["id"]: m for m in client.get("/api/models").json()}
        assert listing["broken"]["available"] is False
        assert "model.bin is missing" in listing["broken"]["unavailable_reason"]
        assert listing["minilm-l6"]["available"] is True
        ok = client.post("/api/attention/text", json={"model": "minilm-l6", "text": "still fine"})
        assert ok.status_code == 200
