"""`attnviz serve --ray --replicas N`: the same FastAPI app (app.main.create_app) as a Ray Serve deployment.

Each replica is its own process that builds its own app on start (serve.ingress with a builder
function), so each holds its own model registry, inference slots and result cache; nothing is
shared between replicas but the code. Every replica runs torch with one thread, and reports N as
`replicas` on /api/health (ATTNVIZ_REPLICAS, read by app.core.config.Settings).

HTTP ingress: Ray Serve's own proxy is a Python actor that parses every request and relays it to a replica
by an actor call; on this 2-core machine it cost about 5 ms of CPU per request (3.1 s of 17 s in the
benchmark). Where Debian's haproxy is installed, `--ingress auto` (the default) uses Ray Serve's HAProxy
ingress instead (RAY_SERVE_ENABLE_DIRECT_INGRESS + RAY_SERVE_ENABLE_HA_PROXY): every replica serves HTTP
itself and HAProxy, in C, balances between them. `--ingress proxy` keeps the Python proxy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI

# Per-request access logs cost a little CPU in the proxy and every replica; warnings and errors are still logged.
QUIET_LOGS = {"enable_access_log": False, "log_level": "WARNING"}

REPLICA_ENV = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "HF_HUB_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "ATTNVIZ_TORCH_THREADS": "1",
}


INGRESSES = ("auto", "haproxy", "proxy")
HAPROXY_ENV = {"RAY_SERVE_ENABLE_DIRECT_INGRESS": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"}


def ingress_env(ingress: str) -> dict[str, str]:
    """The environment Ray's processes need for the HTTP ingress: {} for Ray Serve's Python proxy, the HAProxy
    flags and binary for HAProxy. auto: HAProxy where the binary is installed, else the proxy."""
    if ingress not in INGRESSES:
        raise ValueError(f"ingress must be one of {', '.join(INGRESSES)}; got {ingress!r}")
    if ingress == "proxy":
        return {}
    binary = shutil.which("haproxy")
    if binary is None:
        if ingress == "haproxy":
            raise RuntimeError("--ingress haproxy needs HAProxy: apt-get install haproxy (or use --ingress proxy)")
        return {}
    return {**HAPROXY_ENV, "RAY_SERVE_HAPROXY_BINARY_PATH": binary}


def build_app() -> FastAPI:
    """Runs on each replica when it starts: one torch thread, then the service's own app factory."""
    import torch

    from app.main import create_app

    torch.set_num_threads(1)
    return create_app()


def deployment(replicas: int, cpus_per_replica: float = 1.0, extra_env: dict[str, str] | None = None) -> Any:
    """The bound Ray Serve application: `replicas` copies of the app behind Ray Serve's HTTP proxy."""
    from ray import serve

    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    env = {**REPLICA_ENV, "ATTNVIZ_REPLICAS": str(replicas), **(extra_env or {})}
    ingress: Any = serve.deployment(
        serve.ingress(build_app)(),
        name="attnviz",
        num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus_per_replica, "runtime_env": {"env_vars": env}},
        max_ongoing_requests=16,  # each replica still bounds its own inference slots and waiting line
        logging_config=QUIET_LOGS,
    )
    return ingress.bind()


def haproxy_pids() -> set[int]:
    """PIDs of the HAProxy processes Ray Serve runs on this machine (their config lives under /tmp/haproxy-serve)."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if command and command[0].endswith(b"haproxy") and any(b"/haproxy-serve/" in part for part in command):
            found.add(int(entry.name))
    return found


def stop_haproxy_started_since(before: set[int], timeout_s: float = 10.0) -> None:
    """Stop the Ray Serve HAProxy processes that were not running at `before`. Ray Serve's reload (haproxy -sf)
    can leave one running after serve.shutdown(), holding its fixed stats and metrics ports (8404, 9101), and the
    next `attnviz serve --ray` then cannot start HAProxy."""
    leftover = haproxy_pids() - before
    for pid in leftover:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while leftover and time.monotonic() < deadline:
        time.sleep(0.1)
        leftover &= haproxy_pids()
    for pid in leftover:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def start(host: str, port: int, replicas: int, address: str | None = None, blocking: bool = True,
          ingress: str = "auto") -> str:  # fmt: skip
    """Start (or join) Ray, deploy `replicas` replicas at http://host:port/ and, when blocking, serve until Ctrl-C.
    Returns the ingress used ("haproxy" or "proxy"). Ray Serve reads its ingress flags when it is imported, so
    they are set here before the first `import ray`; on an existing cluster they must be set where it started."""
    chosen = ingress_env(ingress)
    os.environ.update(chosen)
    before = haproxy_pids()
    import ray
    from ray import serve

    env = {"env_vars": {**{k: v for k, v in REPLICA_ENV.items() if k != "ATTNVIZ_TORCH_THREADS"}, **chosen}}
    if address:
        ray.init(address=address, runtime_env=env)
    else:
        ray.init(num_cpus=max(replicas, os.cpu_count() or 1), include_dashboard=False, runtime_env=env)
    serve.start(http_options={"host": host, "port": port}, logging_config=QUIET_LOGS)
    settings_env = {k: v for k, v in os.environ.items() if k.startswith("ATTNVIZ_")}  # e.g. --hf-model folders
    used = "haproxy" if chosen else "proxy"
    front = "HAProxy" if chosen else "the Python proxy"
    print(f"Ray Serve: {replicas} replicas behind {front} on {host}:{port}", flush=True)  # noqa: T201
    try:
        serve.run(deployment(replicas, extra_env=settings_env), name="attnviz", route_prefix="/", blocking=blocking)
    except KeyboardInterrupt:  # Ctrl-C: take the replicas and the local Ray down, without a traceback
        serve.shutdown()
        ray.shutdown()
        if chosen and not address:  # our own local Ray: no HAProxy of ours may outlive it
            stop_haproxy_started_since(before)
    return used
