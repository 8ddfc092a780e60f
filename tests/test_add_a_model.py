"""README "Add a model", followed literally: its code blocks are written to the files it names, its catalog
entry is registered, and the maps are requested through the API with the README's own test."""

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import models.catalog
import models.nets
import models.serve
from app.core.config import REPO_ROOT, get_settings
from app.main import create_app, declared_models
from app.services.registry import ModelRegistry

PACKAGES = {"models/nets/": models.nets, "models/serve/": models.serve}


def walkthrough() -> list[tuple[str, str]]:
    """(path the text names just before the block, the block's code) for every python block of the section."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Add a model\n", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for match in re.finditer(r"```python\n(.*?)```", section, re.S):
        paths = re.findall(r"`((?:models|tests)/[\w/]+\.py)`", section[: match.start()])
        blocks.append((paths[-1], match.group(1)))
    return blocks


@pytest.fixture()
def added_model(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Writes the network and adapter where the README says (inside a scratch copy of the package folders)."""
    blocks = dict(walkthrough())
    saved = {prefix: list(package.__path__) for prefix, package in PACKAGES.items()}
    written = []
    for path, code in blocks.items():
        for prefix, package in PACKAGES.items():
            if path.startswith(prefix):
                target = tmp_path / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(code)
                package.__path__.append(str(target.parent))
                written.append(path.removesuffix(".py").replace("/", "."))
    try:
        yield blocks
    finally:
        for prefix, package in PACKAGES.items():
            package.__path__[:] = saved[prefix]
        for module in written:
            sys.modules.pop(module, None)


def test_the_walkthrough_names_every_file() -> None:
    paths = [path for path, _ in walkthrough()]
    assert paths[0].startswith("models/nets/") and paths[1].startswith("models/serve/")
    assert paths[2] == "models/catalog.py" and paths[3].startswith("tests/test_")


def test_a_model_added_as_the_readme_says_serves_its_maps(added_model: dict[str, str]) -> None:
    spec = eval(added_model["models/catalog.py"], vars(models.catalog))  # the README's catalog entry
    assert isinstance(spec, models.catalog.ModelSpec)
    assert spec.id not in {s.id for s in declared_models(get_settings())}
    registry = ModelRegistry([*declared_models(get_settings()), spec])
    test_path = next(p for p in added_model if p.startswith("tests/"))
    namespace: dict[str, object] = {}
    exec(added_model[test_path], namespace)  # the README's test
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    assert tests
    with TestClient(create_app(registry=registry)) as client:
        listed = {m["id"]: m for m in client.get("/api/models").json()}
        assert listed[spec.id]["available"] is True
        for test in tests:
            test(client)
        assert registry.status(spec.id).loaded
