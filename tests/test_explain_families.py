"""models/explain on tiny random models: batched attributions and deletion curves equal the one-row-at-a-time
ones, the RNN translators' teacher-forced scorer (every attention variant) and both captioners' adapters:
shapes, row-restricted scores, integrated gradients' completeness."""

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from models.contract import InputError
from models.explain.attribute import METHODS, Method, attribute, completeness_holds
from models.explain.deletion import curve_ks, deletion_curve, deletion_curves
from models.explain.families import explain_captioner
from models.explain.marian import MarianScorer
from models.explain.readout import Readout
from models.explain.rnn import RNNScorer
from models.formats.captioner_folder import Vocab
from models.nets.caption_common import SPECIALS
from models.nets.caption_transformer import TransformerCaptioner, TransformerCaptionerConfig
from models.nets.dinov2 import Dinov2Backbone, Dinov2Config
from models.nets.marian import EOS, MarianConfig, MarianTiny
from models.nets.sat import SatConfig, ShowAttendTell
from models.nets.scores import SCORE_FUNCTIONS
from models.nets.seq2seq_rnn import Seq2SeqConfig, Seq2SeqRNN
from models.nets.transformer import Transformer, TransformerConfig
from models.serve.captioner import CaptionerAttentionModel

MARIAN = MarianConfig(vocab_size=24, d_model=16, n_heads=4, encoder_layers=2, decoder_layers=2, d_ffn=32)


def tiny_marian(seed: int = 1) -> MarianScorer:
    torch.manual_seed(seed)
    model = MarianTiny(MARIAN).eval()
    source = [5, 9, 7, 11, 13, EOS]
    with torch.inference_mode():
        output = model.greedy(source, torch.arange(24)).output_ids
    return MarianScorer(SimpleNamespace(model=model), source, output, torch.arange(24))  # type: ignore[arg-type]


@pytest.mark.parametrize("method", METHODS)
def test_rows_explained_together_equal_rows_explained_alone(method: Method) -> None:
    scorer = tiny_marian()
    x, baseline = scorer.embeddings(), scorer.unknown_embeddings()
    rows = [0, 2, 3][: len(scorer.output_ids)]
    together = attribute(scorer.log_probs, x, method, rows, 16, baseline)
    for i, row in enumerate(rows):
        alone = attribute(scorer.log_probs, x, method, [row], 16, baseline)
        torch.testing.assert_close(together.values[i], alone.values[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(together.change[i], alone.change[0])
    # the rows of a row-restricted score are the same rows
    restricted = attribute(lambda b: scorer.log_probs(b, rows=rows), x, method, range(len(rows)), 16, baseline)
    torch.testing.assert_close(restricted.values, together.values, atol=1e-4, rtol=1e-4)


def test_batched_deletion_curves_equal_single_ones() -> None:
    scorer = tiny_marian()
    x, baseline = scorer.embeddings(), scorer.unknown_embeddings()
    S = x.shape[1]
    rng = np.random.default_rng(0)
    orders = [(row, rng.random(S)) for row in (0, 1) for _ in range(3)]
    batched = deletion_curves(scorer.log_probs, x, orders, baseline, batch=5)
    for (row, importance), curve in zip(orders, batched, strict=True):
        single = deletion_curve(scorer.log_probs, x, row, importance, baseline)
        np.testing.assert_allclose(curve.comprehensiveness, single.comprehensiveness, atol=1e-5)
        np.testing.assert_allclose(curve.sufficiency, single.sufficiency, atol=1e-5)
        assert curve.comprehensiveness[0] == 0.0 and curve.sufficiency[-1] == 0.0  # nothing removed: no change
    sampled = deletion_curves(scorer.log_probs, x, orders[:1], baseline, points=4)[0]
    assert sampled.fractions.tolist() == (curve_ks(S, 4) / S).tolist() and sampled.fractions[-1] == 1.0
    full = batched[0]
    np.testing.assert_allclose(sampled.comprehensiveness, full.comprehensiveness[curve_ks(S, 4)], atol=1e-5)


def test_transformer_logit_rows_are_those_rows_of_the_full_logits() -> None:
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=20, d_model=16, n_heads=2, encoder_layers=2, decoder_layers=2, d_ffn=32)
    model = Transformer(config).eval()
    src, tgt = torch.tensor([[4, 5, 6, 3]]), torch.tensor([[2, 7, 8, 9, 10]])
    with torch.no_grad():
        full = model(src, tgt).logits  # (1, T, V)
        part = model(src, tgt[:, :4], logit_rows=[1, 3]).logits  # (1, 2, V): the decoder is causal
    torch.testing.assert_close(part, full[:, [1, 3]], atol=1e-5, rtol=1e-5)


def tiny_rnn(attention: str) -> RNNScorer:
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        vocab_size=20, emb_dim=8, enc_hidden=8, dec_hidden=16, attention=attention, attn_dim=8, dropout=0.0
    )
    model = Seq2SeqRNN(config).eval()
    source = [5, 9, 7, 11, 13, config.eos_id]
    with torch.inference_mode():
        generated = model.greedy(torch.tensor([source]), max_len=6).tokens[0].tolist()
    return RNNScorer(model, source, [t for t in generated if t != config.pad_id], unknown=1)


@pytest.mark.parametrize("attention", [*SCORE_FUNCTIONS, "none"])
def test_rnn_scorer_is_the_greedy_decoder_teacher_forced(attention: str) -> None:
    scorer = tiny_rnn(attention)
    T, S = len(scorer.output_ids), len(scorer.source_ids)
    x = scorer.embeddings()
    assert x.shape == (1, S, 8) and scorer.unknown_embeddings().shape == (1, S, 8)
    with torch.no_grad():
        logp = scorer.log_probs(x)  # (1, T)
        # greedy took the argmax: each chosen token's log-probability is the step's maximum
        model = scorer.model
        steps = model(torch.tensor([scorer.source_ids]), torch.tensor([[2, *scorer.output_ids[:-1]]]))
        best = steps.logits.log_softmax(-1).max(-1).values  # (1, T)
        torch.testing.assert_close(logp, best, atol=1e-5, rtol=1e-5)
        rows = [T - 1, 0]
        torch.testing.assert_close(scorer.log_probs(x.expand(3, -1, -1), rows), logp[:, rows].expand(3, -1))


def test_integrated_gradients_is_complete_on_tiny_rnns() -> None:
    complete = total = 0
    for attention in ("additive", "dot", "general", "location", "none"):
        scorer = tiny_rnn(attention)
        rows = list(range(len(scorer.output_ids)))
        result = attribute(
            scorer.log_probs, scorer.embeddings(), "integrated_gradients", rows, 32, scorer.unknown_embeddings()
        )
        assert result.values.shape == (len(rows), len(scorer.source_ids)) and result.delta is not None
        complete += int(completeness_holds(result).sum())
        total += len(rows)
    assert complete >= 0.95 * total


FEAT = 16


def tiny_captioner(kind: str) -> CaptionerAttentionModel:
    """A random DINOv2 (16 x 16 patches of 14 px on a 224 px image) under a random caption decoder whose
    first caption words are forced to be ordinary words (not specials, not <eos>)."""
    torch.manual_seed(0)
    backbone = Dinov2Backbone(
        Dinov2Config(hidden_size=FEAT, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, image_size=224)
    )
    V = len(SPECIALS) + 6
    decoder: ShowAttendTell | TransformerCaptioner
    if kind == "sat":
        decoder = ShowAttendTell(
            SatConfig(vocab_size=V, feature_dim=FEAT, embed_dim=8, hidden_dim=16, attention_dim=8, max_len=4)
        )
        with torch.no_grad():
            decoder.L_o.bias[: len(SPECIALS)] = -20.0  # no specials, no <eos>: max_len + 1 ordinary words
    else:
        config = TransformerCaptionerConfig(
            vocab_size=V, feature_dim=FEAT, d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=4
        )
        decoder = TransformerCaptioner(config)
        with torch.no_grad():  # tied output layer: specials get zero logits, the words' mean direction wins
            decoder.embed.weight[: len(SPECIALS)] = 0.0
            decoder.ln_f.bias.copy_(decoder.embed.weight[len(SPECIALS) :].mean(0) * 4)
    vocab = Vocab((*SPECIALS, *(f"w{i}" for i in range(6))))
    return CaptionerAttentionModel(backbone, decoder, vocab, feature_layer=1)


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["sat", "transformer"])
def test_captioner_adapters_attribute_words_to_the_patch_grid(kind: str) -> None:
    model = tiny_captioner(kind)
    explainable = explain_captioner(model, png(0))
    T, P = len(explainable.row_tokens), 16 * 16
    assert T >= 2 and explainable.x.shape == (1, P, FEAT) == explainable.baseline.shape
    assert len(explainable.col_tokens) == P and explainable.col_tokens[17] == "1,1"
    # the baseline is an empty canvas's features (standardised like every input), not all-zero features
    assert torch.allclose(explainable.baseline.pow(2).mean(-1), torch.ones(1, P), atol=1e-3)
    readout = explainable.readout(Readout("mean", 0))  # (T, P)
    assert readout.shape == (T, P) and torch.allclose(readout.sum(-1), torch.ones(T, dtype=readout.dtype))
    rows = [T - 1, 0]
    with torch.no_grad():
        full = explainable.score(explainable.x)  # (1, T)
        torch.testing.assert_close(explainable.score_rows(rows)(explainable.x), full[:, rows])
    result = attribute(explainable.score_rows(rows), explainable.x, "integrated_gradients", [0, 1], 32,
                       explainable.baseline)  # fmt: skip
    assert result.values.shape == (2, P) and bool(completeness_holds(result).all())
    if kind == "sat":
        assert explainable.head_shapes == {}
        with pytest.raises(InputError, match="no head"):
            explain_captioner(model, png(0), {"spatial": torch.ones(1, 1)})
    else:
        assert explainable.head_shapes == {"spatial": (2, 2)}


def test_cell_readings_are_what_the_decoder_reads_of_each_cell() -> None:
    """captioner-sat-cnn's dev-scored alternative inputs: the decoder fed its cell readings (the head's
    log-probabilities at both scales, then the cue column) gives exactly the logits and attention of the features."""
    from models.explain.families import cell_readings
    from models.nets.cnn_grid import CHANNELS, with_parents
    from tests.test_face_cues import decoders

    _, cued = decoders()
    features = with_parents(torch.randn(2, 196, CHANNELS), torch.randn(2, 49, CHANNELS + 2))
    features = torch.cat([features, torch.rand(2, 196, 1)], dim=-1)
    words = torch.tensor([[1, 4, 5], [1, 6, 7]])
    with torch.no_grad():
        readings = cell_readings(cued, features)  # (2, 196, 2 * 1000 + 1)
        assert readings.shape == (2, 196, 2001) and torch.equal(readings[..., -1], features[..., -1])
        direct = cued(features, words)
        read = cued(readings[..., 2000:], words, readings[..., :2000].unflatten(-1, (2, 1000)))
    torch.testing.assert_close(read.logits, direct.logits)
    torch.testing.assert_close(read.attentions, direct.attentions)
