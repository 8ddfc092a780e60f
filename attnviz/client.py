"""A typed Python client for the attnviz JSON API (httpx), built on its OpenAPI contract.

    from attnviz.client import Client
    with Client("http://127.0.0.1:8000") as api:
        result = api.attend("minilm-l6", "The cat sat on the mat.", layers=[3])
        result.maps[0].values          # numpy float32 (rows, cols), decoded from the float16 wire encoding
        result.to_npz("maps.npz")      # one array per map plus the token lists; also to_csv, to_json

Errors come back as the API's own: AttnvizError(status, detail), e.g. 404 for an unknown model, 422 for bad
input, 503 when busy. Client.in_process() runs the app inside this process (no server), through FastAPI's
TestClient, which is an httpx client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.services.export import MapArray, csv_text, decode, npz_bytes


class AttnvizError(Exception):
    """An error answer of the API: the HTTP status and its `detail` sentence."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


AttentionMap = MapArray  # kind, layer, head, step, row_tokens, col_tokens, values (float32 rows x cols), name
decode_map = decode  # one API map (json values, float16 or 8-bit base64) -> AttentionMap


@dataclass(frozen=True)
class Result:
    """An answer of /api/attention/text or /api/attention/image with its maps decoded; `raw` is the JSON."""

    model: str
    input_tokens: list[str] | None
    output_tokens: list[str] | None
    output_text: str | None
    maps: list[AttentionMap]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Result:
        return cls(
            body["model"], body.get("input_tokens"), body.get("output_tokens"),
            body.get("output_text", body.get("caption")), [decode_map(m) for m in body.get("maps", [])], body,
        )  # fmt: skip

    def map(self, kind: str | None = None, layer: int | None = None, head: int | None = None) -> AttentionMap:
        """The first map matching every given field; KeyError naming what was asked."""
        for m in self.maps:
            if (
                (kind is None or m.kind == kind)
                and (layer is None or m.layer == layer)
                and (head is None or m.head == head)
            ):
                return m
        raise KeyError(f"no map with kind={kind} layer={layer} head={head}")

    def to_npz(self, path: str | Path) -> None:
        """One array per map (named kind/L<layer>/H<head>) plus each map's token lists and the result's tokens:
        the file POST /api/attention/text gives with "format": "npz"."""
        Path(path).write_bytes(npz_bytes(self.maps, self.input_tokens, self.output_tokens))

    def to_csv(self, path: str | Path | None = None) -> str:
        """One block per map: a header row (kind, layer, head, query, then the key tokens), then one row per
        query token (the API's "format": "csv"). Returns the text; writes it to `path` when given."""
        text = csv_text(self.maps)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_json(self, path: str | Path) -> None:
        """The API's own JSON answer."""
        Path(path).write_text(json.dumps(self.raw, ensure_ascii=False), encoding="utf-8")


class Client:
    """The attnviz API over HTTP. base_url of a running server, or Client.in_process() for no server."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", timeout: float = 120.0,
                 http: Any = None) -> None:  # fmt: skip
        # http: any httpx-style client (FastAPI's TestClient for in_process); default one for base_url
        self.http = http if http is not None else httpx.Client(base_url=base_url, timeout=timeout)

    @classmethod
    def in_process(cls) -> Client:
        """The app itself, in this process (models load here)."""
        from fastapi.testclient import TestClient

        from app.main import create_app

        return cls(http=TestClient(create_app()))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _check_bytes(self, response: httpx.Response) -> bytes:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise AttnvizError(response.status_code, str(detail))
        return response.content

    def _check(self, response: httpx.Response) -> Any:
        content = self._check_bytes(response)
        return response.json() if content else None

    def models(self) -> list[dict[str, Any]]:
        """The catalog: id, task, layers, heads, kinds, availability."""
        return list(self._check(self.http.get("/api/models")))

    def attend(self, model: str, text: str, **options: Any) -> Result:
        """POST /api/attention/text (options: layers, heads, kinds, beam, word_level, ...), maps decoded."""
        body = {"model": model, "text": text, "encoding": "f16", **options}
        return Result.from_json(self._check(self.http.post("/api/attention/text", json=body)))

    @staticmethod
    def _image_form(model: str, image: str | Path | bytes, options: dict[str, Any]) -> tuple[dict[str, str], Any]:
        """The multipart fields of an image request: layers/heads as "0,5,11", ablate as JSON [[layer, head]]."""
        data = Path(image).read_bytes() if isinstance(image, str | Path) else image
        form = {"model": model}
        for key, value in options.items():
            if key in ("layers", "heads") and isinstance(value, list | tuple):
                form[key] = ",".join(str(int(v)) for v in value)
            elif key == "ablate" and not isinstance(value, str):
                form[key] = json.dumps([[int(layer), int(head)] for layer, head in value])
            else:
                form[key] = str(value)
        return form, {"file": ("image", data, "application/octet-stream")}

    def attend_image(self, model: str, image: str | Path | bytes, **options: Any) -> Result:
        """POST /api/attention/image with a photo (a path or its bytes); options: layers, heads (lists of ints),
        ablate (a list of [layer, head])."""
        form, files = self._image_form(model, image, options)
        return Result.from_json(self._check(self.http.post("/api/attention/image", data=form, files=files)))

    def save_image(self, model: str, image: str | Path | bytes, **options: Any) -> dict[str, Any]:
        """POST /api/results/image: stores the answer with the photo; id, url (/r/<id>), delete_token, bytes."""
        form, files = self._image_form(model, image, options)
        return dict(self._check(self.http.post("/api/results/image", data=form, files=files)))

    def saved_image(self, result_id: str) -> bytes:
        """The photo stored with an image result (JPEG, metadata removed)."""
        return bytes(self._check_bytes(self.http.get(f"/api/results/{result_id}/image")))

    def save(self, model: str, text: str, **options: Any) -> dict[str, Any]:
        """POST /api/results/text: id, url (/r/<id>), delete_token, bytes."""
        return dict(self._check(self.http.post("/api/results/text", json={"model": model, "text": text, **options})))

    def saved(self, result_id: str) -> Result:
        """GET /api/results/{id}: the saved answer, maps decoded (raw['saved'] holds the store's fields)."""
        body = self._check(self.http.get(f"/api/results/{result_id}"))
        result = Result.from_json(body["result"])
        result.raw["saved"] = {k: v for k, v in body.items() if k != "result"}
        return result

    def delete(self, result_id: str, delete_token: str) -> None:
        self._check(self.http.delete(f"/api/results/{result_id}", headers={"X-Delete-Token": delete_token}))
