"""Saved results (permanent links): save, open exactly as saved, delete with the token, limits, the schema
migration, and nothing acknowledged lost when the server is killed (SIGKILL) during a burst of saves."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from app.core.config import Settings
from app.main import create_app
from app.services.results import SCHEMA_VERSION, ResultStore, migrate

BODY = {"model": "minilm-l6", "text": "The cat sat on the mat.", "layers": [1], "heads": [0, 3]}


@pytest.fixture
def results_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(results_db=tmp_path / "results.db", results_max_count=3)
    with TestClient(create_app(settings)) as c:
        yield c


def test_save_open_and_delete(results_client: TestClient) -> None:
    saved = results_client.post("/api/results/text", json=BODY)
    assert saved.status_code == 201, saved.text
    info = saved.json()
    assert len(info["id"]) == 22 and info["url"] == f"/r/{info['id']}" and len(info["delete_token"]) >= 32
    opened = results_client.get(f"/api/results/{info['id']}")
    assert opened.status_code == 200
    stored = opened.json()
    fresh = results_client.post("/api/attention/text", json={**BODY, "encoding": "f16"}).json()
    assert stored["result"] == fresh  # exactly the answer, float16 maps byte for byte
    assert stored["request"]["text"] == BODY["text"] and stored["model_changed"] is False and stored["note"] is None
    assert len(stored["weights_sha256"]) == 64

    assert results_client.delete(f"/api/results/{info['id']}").status_code == 422  # no token
    wrong = results_client.delete(f"/api/results/{info['id']}", headers={"X-Delete-Token": "nope"})
    assert wrong.status_code == 403
    right = results_client.delete(f"/api/results/{info['id']}", headers={"X-Delete-Token": info["delete_token"]})
    assert right.status_code == 204
    assert results_client.get(f"/api/results/{info['id']}").status_code == 404
    gone = results_client.delete(f"/api/results/{info['id']}", headers={"X-Delete-Token": info["delete_token"]})
    assert gone.status_code == 404


def test_bad_ids_links_and_limits(results_client: TestClient, tmp_path: Path) -> None:
    for bad in ("x", "../../etc/passwd", "A" * 23, "%00" * 8):
        assert results_client.get(f"/api/results/{bad}").status_code == 404
    link = results_client.get("/r/AAAAAAAAAAAAAAAAAAAAAA?layer=2&head=mean&evil=1", follow_redirects=False)
    assert link.status_code == 307 and link.headers["location"] == "/?result=AAAAAAAAAAAAAAAAAAAAAA&layer=2&head=mean"
    assert results_client.get("/r/<script>", follow_redirects=False).headers["location"] == "/?result=invalid"
    assert results_client.post("/api/results/text", json={**BODY, "model": "gpt-9"}).status_code == 404
    assert results_client.post("/api/results/text", json={**BODY, "text": " "}).status_code == 422
    ids = [results_client.post("/api/results/text", json=BODY).json()["id"] for _ in range(3)]
    full = results_client.post("/api/results/text", json=BODY)
    assert full.status_code == 409 and "full" in full.json()["detail"]
    assert len(set(ids)) == 3
    small = Settings(results_db=tmp_path / "small.db", results_max_mb=0)
    with TestClient(create_app(small)) as c:
        too_big = c.post("/api/results/text", json=BODY)
        assert too_big.status_code == 413 and "bytes" in too_big.json()["detail"]


def _photo_with_metadata() -> bytes:
    """A PNG with an alpha channel and an EXIF block (GPS position, camera) and a text chunk, rotated by EXIF."""
    import io

    from PIL import Image, PngImagePlugin

    img = Image.new("RGBA", (60, 40), (200, 30, 30, 255))
    img.putpixel((0, 0), (0, 0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to show
    exif[0x010F] = "SecretCam"
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "home address")
    out = io.BytesIO()
    img.save(out, format="PNG", exif=exif, pnginfo=info)
    return out.getvalue()


def test_image_results_keep_a_clean_photo(results_client: TestClient) -> None:
    """An image result is stored with its photo re-encoded (upright JPEG, no metadata) and reopens exactly; its
    permanent link opens the image page; a non-image upload is a 422 and nothing is stored."""
    import io

    from PIL import Image

    photo = _photo_with_metadata()
    form = {"model": "dinov2-s14", "layers": "11", "heads": "0"}
    saved = results_client.post("/api/results/image", data=form, files={"file": ("p.png", photo, "image/png")})
    assert saved.status_code == 201, saved.text
    rid = saved.json()["id"]
    stored = results_client.get(f"/api/results/{rid}").json()
    fresh = results_client.post("/api/attention/image", data=form, files={"file": ("p.png", photo, "image/png")})
    assert stored["kind"] == "image" and stored["result"] == fresh.json()
    assert stored["request"] == {"model": "dinov2-s14", "layers": "11", "heads": "0", "ablate": None}
    assert stored["image_url"] == f"/api/results/{rid}/image"
    got = results_client.get(stored["image_url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert b"SecretCam" not in got.content and b"home address" not in got.content
    with Image.open(io.BytesIO(got.content)) as img:
        assert img.format == "JPEG" and img.size == (40, 60)  # upright, as the maps' image_size says
        assert list(stored["result"]["image_size"]) == [60, 40]
        assert not img.getexif() and "icc_profile" not in img.info and "comment" not in img.info
    link = results_client.get(f"/r/{rid}?layer=11&step=2", follow_redirects=False)
    assert link.headers["location"] == f"/image?result={rid}&layer=11&step=2"
    text_only = results_client.post("/api/results/text", json=BODY).json()["id"]
    assert results_client.get(f"/api/results/{text_only}").json()["image_url"] is None
    assert results_client.get(f"/api/results/{text_only}/image").status_code == 404
    bad = results_client.post("/api/results/image", data=form, files={"file": ("x.png", b"not an image", "image/png")})
    assert bad.status_code == 422
    assert results_client.post("/api/results/image", data={**form, "model": "minilm-l6"},
                               files={"file": ("p.png", photo, "image/png")}).status_code == 422  # fmt: skip


def test_changed_weights_are_noted(results_client: TestClient, tmp_path: Path) -> None:
    rid = results_client.post("/api/results/text", json=BODY).json()["id"]
    with sqlite3.connect(tmp_path / "results.db") as db:
        db.execute("UPDATE results SET weights = ? WHERE id = ?", ("0" * 64, rid))
    stored = results_client.get(f"/api/results/{rid}").json()
    assert stored["model_changed"] is True and "changed" in stored["note"]
    assert stored["result"]["maps"]  # still drawn exactly as saved


def test_schema_is_migrated_and_newer_files_refused(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.db", 10, 10**6)
    saved = store.save("text", "m", "w", {"a": 1}, {"b": [1.5, "ü"]})
    store.close()
    reopened = ResultStore(tmp_path / "r.db", 10, 10**6)
    got = reopened.get(saved.id)
    assert got is not None and got.result == {"b": [1.5, "ü"]} and got.request == {"a": 1}
    reopened.close()
    with sqlite3.connect(tmp_path / "r.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with sqlite3.connect(tmp_path / "r.db") as db, pytest.raises(RuntimeError, match="knows up to"):
        migrate(db)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ATTNVIZ_RESULTS_DB": str(db), "ATTNVIZ_INFERENCE_WORKERS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def test_no_acknowledged_save_is_lost_when_the_server_is_killed(tmp_path: Path) -> None:
    """3 rounds: 4 threads save as fast as they can; SIGKILL lands mid-burst; every save the server acknowledged
    (201 with an id) reopens intact after a restart, and the database passes PRAGMA integrity_check."""
    db = tmp_path / "crash.db"
    acknowledged: dict[str, str] = {}  # id -> text saved
    lock = threading.Lock()
    texts = [f"Sentence number {k} is here." for k in range(6)]  # a few texts: the result cache keeps saves fast
    for round_ in range(3):
        port = _free_port()
        proc = _start(db, port)
        stop = threading.Event()

        def burst(worker: int, port: int = port, stop: threading.Event = stop) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                k = worker
                while not stop.is_set():
                    text = texts[k % len(texts)]
                    k += 4
                    try:
                        r = http.post("/api/results/text", json={"model": "minilm-l6", "text": text, "layers": [0]})
                    except httpx.HTTPError:
                        return  # the server died under us: this save was never acknowledged
                    if r.status_code == 201:
                        with lock:
                            acknowledged[r.json()["id"]] = text

        threads = [threading.Thread(target=burst, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        target = 70 * (round_ + 1)
        deadline = time.monotonic() + 120
        while len(acknowledged) < target and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # mid-burst: requests are in flight
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
    assert len(acknowledged) >= 200, len(acknowledged)
    port = _free_port()
    proc = _start(db, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for rid, text in acknowledged.items():
                r = http.get(f"/api/results/{rid}")
                assert r.status_code == 200, (rid, r.status_code)
                assert r.json()["request"]["text"] == text and r.json()["result"]["maps"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.browser
def test_saved_view_reopens_in_a_fresh_page(live_server: str, page: Page) -> None:
    """Save a view on the text page, open /r/<id> in a new page: the same maps, drawn from the store (the
    model is not asked again), the saved request in the form; an unknown id says so."""
    page.goto(live_server + "/?model=minilm-l6")
    page.fill("#text", "The cat sat on the mat.")
    page.press("#text", "Enter")
    expect(page.locator("#status")).to_contain_text("72 maps", timeout=60_000)
    page.select_option("#layer", "2")
    page.select_option("#head", "5")
    expect(page.locator("#heatmap .gtitle")).to_have_text("Layer 2, head 5 (self-attention)")
    saved_cells = page.evaluate("() => document.querySelector('#heatmap').data[0].z")
    page.click("#save-result")
    expect(page.locator("#saved-url")).to_have_value(re.compile(r"/r/[A-Za-z0-9_-]{22}\?kind=self&layer=2&head=5"))
    link = page.input_value("#saved-url")
    assert len(page.text_content("#saved-token") or "") >= 32

    fresh = page.context.new_page()
    posts: list[str] = []
    fresh.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    fresh.goto(link)
    expect(fresh.locator("#status")).to_contain_text("Saved result of", timeout=60_000)
    expect(fresh.locator("#heatmap .gtitle")).to_have_text("Layer 2, head 5 (self-attention)")
    assert fresh.input_value("#text") == "The cat sat on the mat." and fresh.input_value("#model") == "minilm-l6"
    assert fresh.evaluate("() => document.querySelector('#heatmap').data[0].z") == saved_cells
    assert posts == []  # drawn from the store: no attention request
    expect(fresh.locator("#grid .thumb")).to_have_count(72)
    assert "result=" in fresh.url

    fresh.goto(live_server + "/r/AAAAAAAAAAAAAAAAAAAAAA")
    expect(fresh.locator("#error")).to_contain_text("No saved result with this id")
    expect(fresh.locator("#result")).to_be_hidden()


def test_encoded_maps_are_stored_as_bytes_and_come_back_exact() -> None:
    """pack_result stores float16 and 8-bit maps as compressed byte streams; unpacking gives the same answer."""
    import base64

    import numpy as np

    from app.services.results import MAPS_MAGIC, _unpack, pack_result

    rng = np.random.default_rng(0)
    f16 = rng.random((7, 9)).astype(np.float16).tobytes()
    u8 = rng.integers(0, 256, (5, 5), dtype=np.uint8).tobytes()
    answer = {"model": "m", "input_tokens": ["a"], "maps": [
        {"kind": "self", "layer": 0, "head": 0, "shape": [7, 9], "dtype": "float16",
         "data": base64.b64encode(f16).decode()},
        {"kind": "self", "layer": 0, "head": 1, "shape": [5, 5], "dtype": "uint8", "offset": 0.0, "scale": 0.01,
         "data": base64.b64encode(u8).decode()},
        {"kind": "self", "layer": 1, "head": 0, "shape": [1, 2], "values": [[0.25, 0.75]]},
    ]}  # fmt: skip
    blob = pack_result(answer)
    assert blob.startswith(MAPS_MAGIC) and _unpack(blob) == answer
    plain = {"model": "m", "maps": [answer["maps"][2]]}
    assert not pack_result(plain).startswith(MAPS_MAGIC) and _unpack(pack_result(plain)) == plain


def test_an_unwritable_store_is_a_clear_503(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = Settings(results_db=blocker / "results.db")  # its folder cannot be made: a file is in the way
    with TestClient(create_app(settings)) as c:
        saved = c.post("/api/results/text", json=BODY)
        assert saved.status_code == 503 and "ATTNVIZ_RESULTS_DB" in saved.json()["detail"]
        assert c.get("/api/results/AAAAAAAAAAAAAAAAAAAAAA").status_code == 503
        assert c.post("/api/attention/text", json=BODY).status_code == 200  # the rest of the service still works
