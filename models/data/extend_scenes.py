"""Writing a scene set that extends another (models/data/closeups.py, models/data/photo_scenes.py): the base set's
scenes, ids and splits unchanged, then the added training scenes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from models.data.scenes import Scene, render_scene


def write_extended(
    out: Path, base_dir: Path, scenes: list[Scene], previews: list[Scene], extra: dict[str, Any]
) -> None:
    """Write a set that extends the one in base_dir (closeups, photo_scenes): scenes.jsonl, a preview PNG of each
    scene of `previews`, and base_dir's manifest updated with `extra`, the base folder and the new split sizes."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "scenes.jsonl", "w", encoding="utf-8") as f:
        for scene in scenes:
            f.write(json.dumps(scene.to_json(), ensure_ascii=False) + "\n")
    folder = out / "previews"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for scene in previews:
        render_scene(scene).save(folder / f"{scene.id:05d}.png")
    manifest = json.loads((base_dir / "manifest.json").read_text())
    manifest.update(
        **extra,
        base=str(base_dir),
        splits={s: sum(sc.split == s for sc in scenes) for s in ("train", "val", "test")},
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
