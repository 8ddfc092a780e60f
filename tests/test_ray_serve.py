"""`attnviz serve --ray`: the app as a Ray Serve deployment on a local Ray; two replicas, both answering.

Needs the `scale` extra (ray[data,serve]); `make test` installs it, so there this test always runs."""

import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[scale]' (make test installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_url() -> Iterator[str]:
    from ray import serve

    from app.scale.ray_serve import REPLICA_ENV, deployment

    env = {k: v for k, v in REPLICA_ENV.items() if k != "ATTNVIZ_TORCH_THREADS"}
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env}, log_to_driver=False)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(deployment(2), name="attnviz", route_prefix="/", blocking=False)  # returns once both are up
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def test_two_replicas_answer(ray_url: str) -> None:
    seen: Counter[str] = Counter()
    with httpx.Client(base_url=ray_url, timeout=30) as client, ThreadPoolExecutor(8) as pool:
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:
            for response in pool.map(lambda _: client.get("/api/health"), range(16)):
                assert response.status_code == 200
                body = response.json()
                assert body["status"] == "ok" and body["replicas"] == 2
                seen[body["replica"]] += 1
    assert len(seen) == 2, f"only these replicas answered: {dict(seen)}"


def test_replica_serves_the_same_api(ray_url: str) -> None:
    with httpx.Client(base_url=ray_url, timeout=120) as client:
        response = client.post(
            "/api/attention/text", json={"model": "minilm-l6", "text": "The cat sat.", "layers": [0]}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["input_tokens"][0] == "[CLS]"
        bad = client.post("/api/attention/text", json={"model": "minilm-l6", "text": ""})
        assert bad.status_code == 422 and isinstance(bad.json()["detail"], str)


def test_haproxy_ingress_balances_both_replicas() -> None:
    """`attnviz serve --ray --ingress haproxy` (the default where Debian's haproxy is installed, which `make test`
    installs): replicas serve HTTP themselves behind HAProxy, and both answer. HAProxy adds a replica once Ray
    reports it healthy, so requests go out in concurrent rounds (fresh connections) for up to a minute."""
    import shutil

    from benchmarks.ray_serve import ray_server

    assert shutil.which("haproxy"), "Debian haproxy is missing: `make chromium` installs it"

    def health(url: str) -> dict:
        with httpx.Client(timeout=30, headers={"Connection": "close"}) as http:
            return dict(http.get(url + "/api/health").json())

    with ray_server(2, ingress="haproxy") as url:
        seen: Counter[str] = Counter()
        deadline = time.monotonic() + 60
        with ThreadPoolExecutor(8) as pool:
            while len(seen) < 2 and time.monotonic() < deadline:
                for body in pool.map(health, [url] * 16):
                    assert body["status"] == "ok" and body["replicas"] == 2
                    seen[body["replica"]] += 1
                time.sleep(0.5)
        with httpx.Client(timeout=60) as http:
            text = http.post(url + "/api/attention/text", json={"model": "minilm-l6", "text": "The cat sat."})
            assert text.status_code == 200 and len(text.json()["maps"]) == 72
        assert len(seen) == 2, f"only these replicas answered: {dict(seen)}"
