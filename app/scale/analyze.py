"""`attnviz analyze`: attention statistics of every head over a corpus, as a Ray Data pipeline.

The corpus is cut into shards of `shard_size` sentences; one dataset row is one shard. `map_batches`
runs ShardWorker, a callable class, so each Ray worker loads the model once (through the service's own
registry and serve adapters: the maps are the ones /api/attention/text serves) and keeps it for every
shard it is given. Workers return each shard as bytes (app.scale.shards); the driver writes
DIR/shards/shard-NNNNN.npz as they arrive (write, then rename), so a rerun skips finished shards and an
analysis on a remote cluster needs no shared disk. When every shard is there, app.scale.summary merges
them into DIR/heads.parquet and DIR/summary.json.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.scale.corpus import Corpus
from app.scale.shards import analyse_shard, from_bytes, to_bytes

logger = logging.getLogger(__name__)

WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


CrossAer = Callable[[str, Corpus], "list[list[float]] | None"]


class AnalysisError(ValueError):
    """The analysis cannot run as asked; the message says why."""


def load_text_model(model_id: str) -> Any:
    """The served model `model_id` through the service's registry, with one torch thread."""
    import torch

    from app.core.config import get_settings
    from app.main import declared_models
    from app.services.registry import ModelRegistry

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as the inference service does: no output changes, no denormal slowdowns
    check_model(model_id)
    return ModelRegistry(declared_models(get_settings()), torch_threads=1).text_model(model_id)


def check_model(model_id: str) -> None:
    """AnalysisError unless `model_id` is a declared text model whose requirements are met here."""
    from app.core.config import get_settings
    from app.main import declared_models
    from app.services.registry import ModelRegistry, UnknownModelError
    from models.catalog import TEXT_TASKS

    registry = ModelRegistry(declared_models(get_settings()))
    try:
        status = registry.status(model_id)
    except UnknownModelError:
        raise AnalysisError(f"no model {model_id!r}; known: {', '.join(sorted(registry.specs))}") from None
    if status.spec.task not in TEXT_TASKS:
        raise AnalysisError(f"model {model_id!r} does not take text; corpus analysis needs a text model")
    if not status.available:
        raise AnalysisError(f"model {model_id!r} cannot load here: {status.reason}")


class ShardWorker:
    """Ray Data callable class: loads the model once per worker, then analyses one shard per call."""

    def __init__(self, model_id: str) -> None:
        self.model = load_text_model(model_id)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        blobs = []
        for shard_ids, shard_texts in zip(batch["ids"], batch["texts"], strict=True):
            blobs.append(to_bytes(analyse_shard(self.model, list(shard_ids), list(shard_texts))))
        return {"shard": np.asarray(batch["shard"]), "blob": np.array(blobs, dtype=object)}


@dataclass(frozen=True)
class Plan:
    """Where an analysis writes, and which shards it still has to compute."""

    out: Path
    shards: list[tuple[int, list[int]]]  # (shard number, sentence indices) of every shard
    todo: list[int]  # shard numbers without a finished file

    def shard_path(self, shard: int) -> Path:
        return self.out / "shards" / f"shard-{shard:05d}.npz"


def weights_digest(model_id: str) -> str | None:
    """sha256 of a model's own weights file in models/weights (our trained models), so shards of older weights
    are never merged with new ones; None for models read from installed packages (their version pins them)."""
    from app.core.config import REPO_ROOT
    from app.services.results import weights_digest as files_digest

    path = REPO_ROOT / "models" / "weights" / model_id / "model.safetensors"
    return files_digest([path], "") if path.is_file() else None


def plan(model_id: str, corpus: Corpus, out: Path, shard_size: int) -> Plan:
    """Check (or write) out/manifest.json and list the unfinished shards; refuses a folder of another analysis."""
    if shard_size < 1:
        raise AnalysisError("--shard-size must be at least 1")
    manifest = {"model": model_id, "corpus": corpus.name, "corpus_sha256": corpus.digest(), "shard_size": shard_size,
                "weights_sha256": weights_digest(model_id)}  # fmt: skip
    path = out / "manifest.json"
    if path.is_file():
        found = json.loads(path.read_text(encoding="utf-8"))
        if found != manifest:
            raise AnalysisError(f"{out} holds another analysis ({found}); choose another --out")
    else:
        (out / "shards").mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    n = len(corpus.sentences)
    shards = [(k, list(range(start, min(start + shard_size, n)))) for k, start in enumerate(range(0, n, shard_size))]
    result = Plan(out, shards, [])
    result.todo.extend(k for k, _ in shards if not result.shard_path(k).is_file())
    return result


def save_shard(p: Plan, shard: int, blob: bytes) -> None:
    path = p.shard_path(shard)
    partial = path.with_suffix(".partial")
    partial.write_bytes(blob)
    os.replace(partial, path)  # a shard file exists only when it is complete


def init_ray(address: str | None, workers: int) -> None:
    """Connect to the cluster at `address`, or start a local Ray with `workers` CPUs and no dashboard."""
    import ray

    runtime_env = {"env_vars": WORKER_ENV}
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)


def ray_shards(model_id: str, corpus: Corpus, p: Plan, workers: int) -> Iterator[tuple[int, bytes]]:
    """(shard number, bytes) of every unfinished shard, as Ray workers finish them (any order)."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the command draws its own bar over shards
    rows = [{"shard": k, "ids": ids, "texts": [corpus.sentences[i] for i in ids]} for k, ids in p.shards if k in p.todo]
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
    results = dataset.map_batches(
        ShardWorker,
        fn_constructor_kwargs={"model_id": model_id},
        batch_size=1,  # one shard per call: a finished shard comes back (and is saved) at once
        compute=ray.data.ActorPoolStrategy(size=workers),  # `workers` actors, each loading the model once
        num_cpus=1,
        batch_format="numpy",
    )
    for row in results.iter_rows():
        yield int(row["shard"]), bytes(row["blob"])


def plain_shards(model_id: str, corpus: Corpus, p: Plan) -> Iterator[tuple[int, bytes]]:
    """The same shards in this process, one after another: the baseline the benchmark compares Ray with."""
    model = load_text_model(model_id)
    for k, ids in p.shards:
        if k in p.todo:
            yield k, to_bytes(analyse_shard(model, ids, [corpus.sentences[i] for i in ids]))


def run_analysis(
    model_id: str,
    corpus: Corpus,
    out: Path,
    *,
    address: str | None = None,
    workers: int = 2,
    shard_size: int = 50,
    use_ray: bool = True,
    progress: bool = True,
    cross_aer: CrossAer | None = None,
) -> Path:
    """Compute the missing shards (Ray or a plain loop), then merge everything; returns out/summary.json.
    cross_aer(model_id, corpus) -> [layer][head] AER or None: the evaluation layer's per-head AER against
    reference links (models.evaluate.reference_aer, wired in by the `attnviz` command), added as statistic aer."""
    from tqdm import tqdm

    from app.scale.summary import write_outputs

    check_model(model_id)  # a bad id fails here, before Ray starts
    p = plan(model_id, corpus, out, shard_size)
    logger.info("%s: %d shards, %d to compute", out, len(p.shards), len(p.todo))
    if p.todo:
        if use_ray:
            import ray

            init_ray(address, workers)
            stream = ray_shards(model_id, corpus, p, workers)
        else:
            stream = plain_shards(model_id, corpus, p)
        bar = tqdm(total=len(p.shards), initial=len(p.shards) - len(p.todo), unit="shard", disable=not progress)
        try:
            for shard, blob in stream:
                save_shard(p, shard, blob)
                bar.update(1)
        finally:
            bar.close()
            if use_ray:
                ray.shutdown()
    shards = [from_bytes(p.shard_path(k).read_bytes()) for k, _ in p.shards]
    aer = cross_aer(model_id, corpus) if cross_aer is not None else None
    return write_outputs(model_id, corpus, shards, out, cross_aer=aer)
