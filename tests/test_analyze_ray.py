"""`attnviz analyze` on a local Ray (Ray Data map_batches, two workers): the same summary as the plain loop.

Needs the `scale` extra (ray[data,serve]); `make test` installs it, so there this test always runs."""

import json
from pathlib import Path

import pytest

from app.scale.analyze import run_analysis
from app.scale.corpus import Corpus

pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[scale]' (make test installs it)")

CORPUS = Corpus("five", "five sentences", ("The cat sat.", "A dog ran home.", "Birds sing, loudly!", "Yes.", "Go on."))


def test_ray_workers_match_the_plain_loop(tmp_path: Path) -> None:
    on_ray = run_analysis("minilm-l6", CORPUS, tmp_path / "ray", workers=2, shard_size=2, progress=False)
    plain = run_analysis("minilm-l6", CORPUS, tmp_path / "plain", shard_size=2, use_ray=False, progress=False)
    assert sorted(p.name for p in (tmp_path / "ray" / "shards").iterdir()) == [
        "shard-00000.npz", "shard-00001.npz", "shard-00002.npz"
    ]  # fmt: skip
    ray_summary, plain_summary = (json.loads(p.read_text()) for p in (on_ray, plain))
    for summary in (ray_summary, plain_summary):
        del summary["created"]
    assert ray_summary == plain_summary
    assert ray_summary["kinds"][0]["sentences"] == 5
