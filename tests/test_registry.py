"""The model registry: lazy, once-only loading and honest availability."""

import threading

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services.registry import ModelRegistry, ModelUnavailableError, UnknownModelError
from models.catalog import CATALOG, ModelSpec

LOADS: list[str] = []


class FakeModel:
    def attend(self, text: str) -> None:  # never called in these tests
        raise AssertionError


def load_fake() -> FakeModel:
    LOADS.append("fake")
    return FakeModel()


def load_broken() -> FakeModel:
    raise OSError("weights file model.bin is missing")


def spec(model_id: str, loader: str, requires: tuple[str, ...] = ()) -> ModelSpec:
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
        assert ":" in s.loader and s.layers > 0 and s.heads > 0 and s.attention_kinds


def test_lazy_load_happens_once_under_concurrency() -> None:
    LOADS.clear()
    registry = ModelRegistry([spec("fake", "tests.test_registry:load_fake")])
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
        [spec("broken", "tests.test_registry:load_broken"), spec("fake", "tests.test_registry:load_fake")]
    )
    with pytest.raises(ModelUnavailableError, match="model.bin is missing"):
        registry.get("broken")
    status = registry.status("broken")
    assert not status.available and status.reason and "model.bin is missing" in status.reason
    assert isinstance(registry.get("fake"), FakeModel)


def test_missing_package_marks_model_unavailable() -> None:
    registry = ModelRegistry([spec("ghost", "tests.test_registry:load_fake", requires=("no_such_pkg_xyz",))])
    status = registry.status("ghost")
    assert not status.available and "no_such_pkg_xyz" in (status.reason or "")


def test_unknown_id() -> None:
    with pytest.raises(UnknownModelError):
        ModelRegistry([]).get("nope")


def test_unloadable_model_gives_503_and_listing_says_why() -> None:
    registry = ModelRegistry([*CATALOG, spec("broken", "tests.test_registry:load_broken")])
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
