"""Captum attributions (models/explain): shapes, hand-checked values on a linear score, integrated
gradients' completeness on a tiny Marian, agreement and deletion curves, and POST /api/attribution/*."""

import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from models.explain.agreement import agreement
from models.explain.attribute import METHODS, attribute, completeness_holds
from models.explain.deletion import deletion_curve
from models.explain.marian import MarianScorer
from models.nets.marian import EOS, MarianConfig, MarianTiny

TINY = MarianConfig(vocab_size=24, d_model=16, n_heads=4, encoder_layers=2, decoder_layers=2, d_ffn=32)


def linear_score(w: torch.Tensor) -> "torch.nn.Module":
    """score(x) = [sum_s x_s . w_s, 2 * sum_s x_s . w_s]: two rows, linear in x."""

    class Linear(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            total = (x * w).sum(dim=(1, 2))  # (B,)
            return torch.stack([total, 2 * total], dim=1)  # (B, 2)

    return Linear()


@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_a_linear_score_gives_x_times_w(method: str) -> None:
    torch.manual_seed(0)
    x, w = torch.randn(1, 5, 3), torch.randn(5, 3)
    result = attribute(linear_score(w), x, method, rows=[0, 1], steps=8)  # type: ignore[arg-type]
    want = (x[0] * w).sum(-1)  # (S,): exact for all three methods on a linear function
    assert result.values.shape == (2, 5) and result.rows == (0, 1)
    assert torch.allclose(result.values[0], want, atol=1e-5)
    assert torch.allclose(result.values[1], 2 * want, atol=1e-5)
    assert torch.allclose(result.change, torch.stack([want.sum(), 2 * want.sum()]), atol=1e-5)
    assert (result.delta is not None) == (method == "integrated_gradients")


def tiny_scorer(seed: int, source: list[int]) -> MarianScorer:
    torch.manual_seed(seed)
    model = MarianTiny(TINY).eval()
    with torch.inference_mode():
        output = model.greedy(source, torch.arange(24)).output_ids
    return MarianScorer(SimpleNamespace(model=model), source, output, torch.arange(24))  # type: ignore[arg-type]


def test_integrated_gradients_is_complete_on_tiny_translators() -> None:
    complete, total = 0, 0
    for seed in range(4):
        scorer = tiny_scorer(seed, [3 + seed, 9, 7, 11, EOS])
        rows = list(range(len(scorer.output_ids)))
        result = attribute(
            scorer.log_probs, scorer.embeddings(), "integrated_gradients", rows, 32, scorer.unknown_embeddings()
        )
        assert result.values.shape == (len(rows), 5) and result.delta is not None
        # Captum's delta is exactly what completeness measures
        assert torch.allclose(result.values.sum(-1) - result.change, result.delta, atol=1e-4)
        complete += int(completeness_holds(result).sum())
        total += len(rows)
    assert complete >= 0.95 * total


def test_integrated_gradients_spends_exactly_steps_gradient_points_per_row() -> None:
    scorer = tiny_scorer(1, [4, 9, 7, 11, EOS])
    rows = list(range(min(2, len(scorer.output_ids))))
    x, baseline = scorer.embeddings(), scorer.unknown_embeddings()
    points: list[int] = []

    def score(batch: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():  # the trace that places the pieces runs without gradients
            points.append(batch.shape[0])
        return scorer.log_probs(batch)

    one_rule = attribute(scorer.log_probs, x, "integrated_gradients", rows, 32, baseline, segments=1)
    for steps, segments in ((32, 4), (30, 4), (3, 4), (32, 1)):
        points.clear()
        result = attribute(score, x, "integrated_gradients", rows, steps, baseline, segments=segments)
        assert sum(points) == len(rows) * steps
        assert result.delta is not None  # the pieces' Captum deltas add up to the whole path's
        assert torch.allclose(result.values.sum(-1) - result.change, result.delta, atol=1e-4)
        if steps == 32:  # a smooth tiny model: pieces or not, the same integral
            torch.testing.assert_close(result.values, one_rule.values, atol=2e-3, rtol=1e-2)


def test_slope_cuts_gather_the_pieces_where_the_slope_bends() -> None:
    """A traced path F(alpha) = max(0, alpha - 0.5) (flat, then a straight climb): equal shares of the score's
    change put every cut inside the climb; equal shares of the slope's change put the middle cut at the bend
    (plus the even floor elsewhere)."""
    from models.explain.attribute import boundaries

    alphas = torch.linspace(0, 1, 41, dtype=torch.float64)
    path = torch.stack([alphas, (alphas - 0.5).clamp_min(0)], dim=1)
    by_score = boundaries(path, 4, "score")
    by_slope = boundaries(path, 4, "slope")
    assert by_score[0] == by_slope[0] == 0.0 and by_score[-1] == by_slope[-1] == 1.0
    assert all(0.5 < a < 1 for a in by_score[1:-1])  # the flat half holds only the floor's share
    assert by_slope[2] == pytest.approx(0.5, abs=0.03)  # the bend holds most of the slope's change
    assert by_slope[1] < 0.5 < by_slope[3]


def test_slope_cuts_keep_integrated_gradients_exact_and_the_rules_per_model() -> None:
    """Cut anywhere, the pieces still integrate the whole path: on a linear score IG is exact; a smooth tiny model
    gives the same integral as one rule over the path. rule_of: the dev-chosen rules, the default elsewhere."""
    from models.explain.attribute import SEGMENTS, Rule, rule_of

    torch.manual_seed(0)
    x, w = torch.randn(1, 5, 3), torch.randn(5, 3)
    linear = attribute(linear_score(w), x, "integrated_gradients", [0, 1], 32, cut="slope")  # type: ignore[arg-type]
    assert torch.allclose(linear.values[0], (x[0] * w).sum(-1), atol=1e-5)
    scorer = tiny_scorer(1, [4, 9, 7, 11, EOS])
    rows = list(range(min(2, len(scorer.output_ids))))
    x, baseline = scorer.embeddings(), scorer.unknown_embeddings()
    one_rule = attribute(scorer.log_probs, x, "integrated_gradients", rows, 32, baseline, segments=1)
    sloped = attribute(scorer.log_probs, x, "integrated_gradients", rows, 32, baseline, cut="slope")
    assert sloped.delta is not None
    assert torch.allclose(sloped.values.sum(-1) - sloped.change, sloped.delta, atol=1e-4)
    torch.testing.assert_close(sloped.values, one_rule.values, atol=2e-3, rtol=1e-2)
    assert rule_of("rnn-dot-en-es") == Rule(4, "slope")
    assert rule_of("marian-en-pt") == Rule() == Rule(SEGMENTS, "score")


SENTENCES = (  # everyday English written for this test, not drawn from any test or dev split
    "The children were playing in the garden after school.",
    "My brother bought a new bicycle last week.",
    "She opened the window because the room was too warm.",
    "We will meet at the station tomorrow morning.",
    "The old man told the story to his grandchildren.",
)


def test_pieces_make_integrated_gradients_add_up_on_marian() -> None:
    """marian-en-pt at 32 steps, two words of each of five sentences: its ReLU layers make the score's slope rough
    along the path, so one Gauss-Legendre rule over the path misses 5% on many rows; the served rule (pieces cut by
    a forward trace) on fewer, and its mean gap is smaller."""
    from models.explain.families import explain_marian
    from models.serve.marian import load_en_pt

    translator = load_en_pt()
    gaps: dict[int, list[float]] = {1: [], 4: []}
    for position, text in enumerate(SENTENCES, start=1):
        explainable = explain_marian(translator, text)
        T = len(explainable.row_tokens)
        rows = sorted(random.Random(position).sample(range(T - 1), 2))
        score = explainable.score_rows(rows)
        for segments in gaps:
            result = attribute(
                score, explainable.x, "integrated_gradients", [0, 1], 32, explainable.baseline, segments=segments
            )
            gaps[segments] += ((result.values.sum(-1) - result.change).abs() / result.change.abs()).tolist()
    assert sum(gap <= 0.05 for gap in gaps[4]) >= sum(gap <= 0.05 for gap in gaps[1]), gaps
    assert np.mean(gaps[4]) < np.mean(gaps[1]), gaps


def test_input_x_gradient_and_ablation_shapes_on_a_tiny_translator() -> None:
    scorer = tiny_scorer(0, [4, 9, 7, EOS])
    for method in ("input_x_gradient", "feature_ablation"):
        result = attribute(scorer.log_probs, scorer.embeddings(), method, [0], 1)  # type: ignore[arg-type]
        assert result.values.shape == (1, 4) and torch.isfinite(result.values).all()


def test_agreement_figures() -> None:
    attention = np.array([0.1, 0.2, 0.3, 0.4])
    same = agreement(attention, np.array([1.0, 2.0, 3.0, 4.0]), k=2)
    assert same.spearman == pytest.approx(1.0) and same.kendall == pytest.approx(1.0) and same.top_k_overlap == 1.0
    opposite = agreement(attention, np.array([-4.0, 3.0, 2.0, 1.0]), k=2)  # compared by magnitude
    assert opposite.spearman == pytest.approx(-1.0) and opposite.top_k_overlap == 0.0
    flat = agreement(np.full(4, 0.25), np.array([1.0, 2.0, 3.0, 4.0]))
    assert flat.spearman is None and flat.kendall is None


def test_deletion_curve_of_a_linear_score() -> None:
    w = torch.ones(3, 1)
    x = torch.tensor([[[1.0], [3.0], [2.0]]])  # contributions 1, 3, 2

    def score(batch: torch.Tensor) -> torch.Tensor:
        return (batch * w).sum(dim=(1, 2))[:, None]  # (B, 1)

    curve = deletion_curve(score, x, 0, np.array([1.0, 3.0, 2.0]))
    assert curve.comprehensiveness.tolist() == [0.0, 3.0, 5.0, 6.0]  # remove 3, then 2, then 1
    assert curve.sufficiency.tolist() == [6.0, 3.0, 1.0, 0.0]  # keep 3, then 3 + 2, then all
    assert curve.comprehensiveness_auc == pytest.approx((0 + 2 * 3 + 2 * 5 + 6) / 6 / 1)  # trapezoid, dx 1/3


def test_text_attribution_api(client: TestClient) -> None:
    body = {"model": "marian-en-pt", "text": "The old black cat slept.", "method": "input_x_gradient"}
    response = client.post("/api/attribution/text", json=body)
    assert response.status_code == 200
    answer = response.json()
    attribution, attention = answer["maps"]
    T, S = len(answer["output_tokens"]), len(answer["input_tokens"])
    assert attribution["shape"] == attention["shape"] == [T, S]
    assert attribution["col_tokens"] == answer["input_tokens"] and attribution["row_tokens"] == answer["output_tokens"]
    assert np.allclose(np.sum(attention["values"], axis=1), 1.0, atol=1e-5)  # a readout row is a distribution
    assert [a["row"] for a in answer["agreement"]] == list(range(T))
    ig = client.post("/api/attribution/text", json={**body, "method": "integrated_gradients", "target": 1})
    assert ig.status_code == 200
    row = ig.json()["agreement"][0]
    assert row["delta"] is not None and row["complete"] == (abs(row["delta"]) <= 0.05 * abs(row["change"]))


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "gpt-9", "text": "Hi."}, 404, "Unknown model"),
        ({"model": "dinov2-s14", "text": "Hi."}, 422, "does not take text"),
        ({"model": "rnn-none-en-es", "text": "Hi."}, 422, "not available"),
        ({"model": "marian-en-pt", "text": "Hi.", "steps": 10_000}, 422, "steps"),
        ({"model": "marian-en-pt", "text": "Hi.", "target": 99}, 422, "does not exist"),
        ({"model": "marian-en-pt", "text": "Hi.", "ablate": [["cross", 2, 0]]}, 422, "does not exist"),
        ({"model": "marian-en-pt", "text": "Hi.", "readout": {"kind": "head", "layer": 0, "head": 8}}, 422, "head"),
        ({"model": "marian-en-pt", "text": " "}, 422, "empty"),
        ({"model": "minilm-l6", "text": "Hi."}, 422, "compare_with"),
        ({"model": "marian-en-pt", "text": "Hi.", "compare_with": "Bye."}, 422, "compare_with"),
        ({"model": "marian-en-pt", "text": "Hi.", "readout": {"kind": "head", "layer": 0}}, 422, "head"),
        ({"model": "marian-en-pt", "text": "Hi.", "steps": True}, 422, "steps"),
        ({"model": "marian-en-pt", "text": "word " * 80}, 422, "at most"),
        ({"model": "marian-en-pt", "text": "Hi.", "retry_steps": 1}, 422, "retry_steps"),
        ({"model": "marian-en-pt", "text": "Hi.", "retry_steps": 1000}, 422, "retry_steps"),
        ({"model": "marian-en-pt", "text": "Hi.", "retry_steps": True}, 422, "retry_steps"),
    ],
)
def test_attribution_errors_are_clear_4xx(client: TestClient, body: dict, status: int, words: str) -> None:
    response = client.post("/api/attribution/text", json=body)
    assert response.status_code == status and words in response.json()["detail"]


def test_every_row_of_a_long_output_is_refused_by_its_token_work(client: TestClient) -> None:
    """Within 4096 rows x steps, rows x steps x (input + output tokens) is bounded too: a clear 422, not a minute."""
    from app.services.attribution import MAX_POSITION_WORK, MAX_WORK

    text = (  # written for this test
        "The children were playing in the garden after school with their dog, and their parents were cooking "
        "dinner in the kitchen while the neighbours watched the football match on television."
    )
    body = {"model": "marian-en-pt", "text": text}
    shape = client.post("/api/attribution/text", json={**body, "method": "input_x_gradient"}).json()
    rows, positions = len(shape["output_tokens"]), len(shape["input_tokens"]) + len(shape["output_tokens"])
    steps = MAX_WORK // rows
    assert rows * steps * positions > MAX_POSITION_WORK  # this sentence is long enough for the test
    response = client.post("/api/attribution/text", json={**body, "steps": steps})
    assert response.status_code == 422
    assert "input and output tokens is too much work" in response.json()["detail"]


def test_retry_steps_recomputes_exactly_the_incomplete_rows(client: TestClient) -> None:
    """With retry_steps, a row that misses completeness at 32 steps is the 128-step answer and says what the first
    try gave; a complete row is the 32-step answer; the retry's steps count against the work limit."""
    text = "The agreement on the European Economic Area was signed in August 1992."
    body = {"model": "marian-en-pt", "text": text, "method": "integrated_gradients"}

    def row(target: int, **extra: int) -> tuple[dict, list[float]]:
        answer = client.post("/api/attribution/text", json={**body, "target": target, **extra}).json()
        return answer["agreement"][0], answer["maps"][0]["values"][0]

    missed, missed_values = row(0)
    assert missed["complete"] is False and missed["steps"] == 32 and missed["first_try"] is None  # this test's case
    at_128, values_128 = row(0, steps=128)
    retried, retried_values = row(0, retry_steps=128)
    assert retried["steps"] == 128 and retried["first_try"] == {"steps": 32, "delta": pytest.approx(missed["delta"])}
    assert retried["delta"] == pytest.approx(at_128["delta"], abs=1e-4) and retried["complete"] is True
    np.testing.assert_allclose(retried_values, values_128, atol=1e-4)
    complete, complete_values = row(1)
    assert complete["complete"] is True  # this test's case
    kept, kept_values = row(1, retry_steps=128)
    assert kept["steps"] == 32 and kept["first_try"] is None and kept["delta"] == pytest.approx(complete["delta"])
    np.testing.assert_allclose(kept_values, complete_values, atol=1e-4)
    other = client.post("/api/attribution/text", json={**body, "method": "input_x_gradient", "retry_steps": 128})
    assert all(a["steps"] is None and a["first_try"] is None for a in other.json()["agreement"])
    from app.services.attribution import MAX_POSITION_WORK, MAX_WORK

    rows = len(other.json()["output_tokens"])
    positions = rows + len(other.json()["input_tokens"])
    steps = min(256, MAX_WORK // rows, MAX_POSITION_WORK // (rows * positions))
    assert steps >= 2 and rows * (steps + 256) > MAX_WORK  # within the limits alone, over them with the retry
    too_much = client.post("/api/attribution/text", json={**body, "steps": steps, "retry_steps": 256})
    assert too_much.status_code == 422 and f"{rows} rows x {steps + 256} steps" in too_much.json()["detail"]


def test_a_readout_without_layer_reads_the_last_layer(client: TestClient) -> None:
    body = {"model": "marian-en-pt", "text": "Hi.", "method": "input_x_gradient"}
    implicit = client.post("/api/attribution/text", json={**body, "readout": {"kind": "mean"}})
    assert implicit.status_code == 200 and implicit.json()["maps"][1]["method"] == "mean of layer 1"
    explicit = client.post("/api/attribution/text", json={**body, "readout": {"kind": "head", "head": 2}})
    assert explicit.status_code == 200 and explicit.json()["maps"][1]["method"] == "head 1.2"


def test_minilm_similarity_target_and_head_ranking(client: TestClient) -> None:
    body = {"model": "minilm-l6", "text": "A man plays a guitar.", "compare_with": "Someone makes music."}
    response = client.post("/api/attribution/text", json={**body, "method": "feature_ablation"})
    assert response.status_code == 200 and response.json()["maps"][0]["shape"][0] == 1
    heads = client.post("/api/attribution/heads", json={**body, "top": 5})
    assert heads.status_code == 200
    answer = heads.json()
    assert answer["heads_tested"] == 6 * 12 and len(answer["heads"]) == 5
    changes = [abs(h["change"]) for h in answer["heads"]]
    assert changes == sorted(changes, reverse=True)


def test_openapi_lists_the_attribution_routes_with_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/api/attribution/text", "/api/attribution/heads", "/api/attribution/image"):
        assert path in schema["paths"]
    assert schema["components"]["schemas"]["TextAttributionRequest"]["examples"]


def test_rnn_translator_attribution_api(client: TestClient) -> None:
    body = {"model": "rnn-additive-en-es", "text": "we are eating bread", "target": 1}
    response = client.post("/api/attribution/text", json=body)
    assert response.status_code == 200
    answer = response.json()
    attribution, attention = answer["maps"]
    S = len(answer["input_tokens"])
    assert attribution["shape"] == attention["shape"] == [1, S] and attention["method"] == "mean of layer 0"
    assert abs(sum(attention["values"][0]) - 1.0) < 1e-5  # the decoder's attention row of that step
    assert answer["baseline"] == "every input token replaced by the unknown token's embedding"
    row = answer["agreement"][0]
    assert row["token"] == answer["output_tokens"][1] and row["complete"] is True  # smooth GRU: IG adds up
    for extra, words in (
        ({"ablate": [[0, 0]]}, "no head to switch off"),
        ({"readout": {"kind": "rollout"}}, "Rollout needs"),
        ({"compare_with": "Hi."}, "compare_with"),
    ):
        refused = client.post("/api/attribution/text", json={**body, **extra})
        assert refused.status_code == 422 and words in refused.json()["detail"]
    heads = client.post("/api/attribution/heads", json={"model": "rnn-additive-en-es", "text": "we eat"})
    assert heads.status_code == 422 and "Head ablation is not available" in heads.json()["detail"]
    options = {m["id"]: m["options"] for m in client.get("/api/models").json()}
    assert "attribution" in options["rnn-additive-en-es"] and "attribution" not in options["rnn-none-en-es"]
    assert "attribution" in options["captioner-sat"]


CAPTIONER = Path(__file__).parents[1] / "models" / "weights" / "captioner-transformer" / "model.safetensors"
SAT = Path(__file__).parents[1] / "models" / "weights" / "captioner-sat" / "model.safetensors"


@pytest.mark.skipif(not SAT.exists(), reason="captioner-sat weights are not in this checkout")
def test_sat_image_attribution_api(client: TestClient) -> None:
    from models.data import scenes

    png = scenes.scene_png(scenes.compose(3, seed=0, split="test"))
    form = {"model": "captioner-sat", "method": "integrated_gradients", "target": "0"}
    response = client.post("/api/attribution/image", data=form, files={"file": ("s.png", png, "image/png")})
    assert response.status_code == 200
    answer = response.json()
    assert answer["grid"] == [16, 16] and [m["kind"] for m in answer["maps"]] == ["attribution", "attention"]
    assert answer["maps"][1]["method"] == "mean of layer 0"
    assert abs(np.sum(answer["maps"][1]["values"]) - 1.0) < 1e-4  # alpha_t: a distribution over the patches
    assert "empty canvas" in answer["baseline"] and answer["agreement"][0]["complete"] is True
    ablated = client.post(
        "/api/attribution/image", data={**form, "ablate": "[[0, 0]]"}, files={"file": ("s.png", png, "image/png")}
    )
    assert ablated.status_code == 422


SAT_CNN = Path(__file__).parents[1] / "models" / "weights" / "captioner-sat-cnn" / "model.safetensors"


@pytest.mark.skipif(not SAT_CNN.exists(), reason="captioner-sat-cnn weights are not in this checkout")
def test_sat_cnn_attributes_against_all_zero_cnn_features(client: TestClient) -> None:
    """captioner-sat-cnn's baseline, chosen on dev rows, is all-zero CNN features, with 4 pieces cut by the slope:
    the answer says so and the row is complete on a held-out scene."""
    from models.data import scenes
    from models.explain.attribute import Rule, rule_of

    assert rule_of("captioner-sat-cnn") == Rule(4, "slope")
    png = scenes.scene_png(scenes.compose(3, seed=0, split="test"))
    form = {"model": "captioner-sat-cnn", "method": "integrated_gradients", "target": "1"}
    response = client.post("/api/attribution/image", data=form, files={"file": ("s.png", png, "image/png")})
    assert response.status_code == 200
    answer = response.json()
    assert answer["grid"] == [14, 14] and "set to zero" in answer["baseline"]
    row = answer["agreement"][0]
    assert abs(row["delta"]) <= 0.05 * abs(row["change"]) and row["complete"] is True
    again = client.post("/api/attribution/image", data={**form, "retry_steps": "128"},
                        files={"file": ("s.png", png, "image/png")}).json()["agreement"][0]  # fmt: skip
    assert again["steps"] == 32 and again["first_try"] is None  # complete at 32 steps: not computed again
    refused = client.post("/api/attribution/image", data={**form, "retry_steps": "1"},
                          files={"file": ("s.png", png, "image/png")})  # fmt: skip
    assert refused.status_code == 422


@pytest.mark.skipif(not CAPTIONER.exists(), reason="captioner-transformer weights are not in this checkout")
def test_image_attribution_api(client: TestClient) -> None:
    from models.data import scenes

    png = scenes.scene_png(scenes.compose(3, seed=0, split="test"))
    form = {"model": "captioner-transformer", "method": "input_x_gradient", "target": "1"}
    response = client.post("/api/attribution/image", data=form, files={"file": ("s.png", png, "image/png")})
    assert response.status_code == 200
    answer = response.json()
    assert answer["grid"] == [16, 16] and [m["kind"] for m in answer["maps"]] == ["attribution", "attention"]
    assert all(m["shape"] == [16, 16] and m["step"] == 1 for m in answer["maps"])
    assert abs(np.sum(answer["maps"][1]["values"]) - 1.0) < 1e-4  # the cross-attention mean covers the patches
    assert answer["agreement"][0]["token"] == answer["output_tokens"][1]
    ablated = client.post(
        "/api/attribution/image", data={**form, "ablate": "[[2, 1]]"}, files={"file": ("s.png", png, "image/png")}
    )
    assert ablated.status_code == 200 and ablated.json()["ablated"] == [["spatial", 2, 1]]
    for bad, words in (({"ablate": "[[3, 0]]"}, "does not exist"), ({"ablate": "x"}, "JSON list")):
        response = client.post(
            "/api/attribution/image", data={**form, **bad}, files={"file": ("s.png", png, "image/png")}
        )
        assert response.status_code == 422 and words in response.json()["detail"]
    wrong = client.post(
        "/api/attribution/image", data={**form, "model": "dinov2-s14"}, files={"file": ("s.png", png, "image/png")}
    )
    assert wrong.status_code == 422
