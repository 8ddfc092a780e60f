"""Deletion curves of one explained word in /api/attribution/text and /image (deletion: true): three orders,
11 fractions, and the end points the definitions fix (nothing removed: no drop; everything removed: the
whole F(x) - F(baseline) that integrated gradients must add up to)."""

import numpy as np
from fastapi.testclient import TestClient


def _check(curves: dict, change: float) -> None:
    assert curves["fractions"][0] == 0 and curves["fractions"][-1] == 1 and len(curves["fractions"]) == 11
    assert [o["order"] for o in curves["orders"]][1:] == ["integrated_gradients", "random"]
    assert curves["orders"][0]["order"].startswith("attention (")
    for order in curves["orders"]:
        comp, suff = np.asarray(order["comprehensiveness"]), np.asarray(order["sufficiency"])
        assert comp[0] == 0 and abs(suff[-1]) < 1e-6  # nothing removed / everything kept
        np.testing.assert_allclose(comp[-1], change, atol=1e-3)  # all removed = F(x) - F(baseline)
        np.testing.assert_allclose(suff[0], change, atol=1e-3)  # nothing kept = the baseline
        # the area over the fraction removed (fractions travel rounded to 4 decimals)
        np.testing.assert_allclose(order["comprehensiveness_auc"], np.trapezoid(comp, curves["fractions"]), atol=1e-3)


def test_text_deletion_curves(client: TestClient) -> None:
    body = {"model": "marian-en-pt", "text": "The old black cat slept.", "target": 2, "deletion": True}
    answer = client.post("/api/attribution/text", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["deletion"]["row"] == 2
    _check(data["deletion"], data["agreement"][0]["change"])
    plain = client.post("/api/attribution/text", json={**body, "deletion": False}).json()
    assert plain["deletion"] is None and plain["agreement"] == data["agreement"]  # the curves change nothing else
    assert client.post("/api/attribution/text", json={**body, "target": None}).json()["deletion"] is None


def test_image_deletion_curves(client: TestClient) -> None:
    from models.data.scenes import scene_png
    from tests.test_captioner import first_test_scene

    png = scene_png(first_test_scene(2))
    form = {"model": "captioner-transformer", "target": "1", "deletion": "true"}
    answer = client.post("/api/attribution/image", data=form, files={"file": ("s.png", png, "image/png")})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    _check(data["deletion"], next(g for g in data["agreement"] if g["row"] == 1)["change"])
