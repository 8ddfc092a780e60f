"""Captioners (models/nets/sat.py, caption_transformer.py) on tiny configs, the scene composer, shipped weights."""

from pathlib import Path

import numpy as np
import pytest
import torch

from models.data import scenes as sc
from models.formats.captioner_folder import Vocab, load_decoder, save_decoder
from models.nets.caption_transformer import TransformerCaptioner, TransformerCaptionerConfig
from models.nets.sat import SatConfig, ShowAttendTell, doubly_stochastic_penalty
from models.serve.captioner import WEIGHTS_DIR

B, T, V, FEAT = 3, 5, 12, 16
GRID = (2, 3)
P = GRID[0] * GRID[1]
BOS_ID, EOS_ID = 1, 2


def tiny_sat() -> ShowAttendTell:
    torch.manual_seed(0)
    config = SatConfig(
        vocab_size=V, feature_dim=FEAT, grid=GRID, embed_dim=8, hidden_dim=16, attention_dim=8, dropout=0.0, max_len=6
    )
    return ShowAttendTell(config).eval()


def tiny_transformer() -> TransformerCaptioner:
    torch.manual_seed(0)
    config = TransformerCaptionerConfig(
        vocab_size=V, feature_dim=FEAT, grid=GRID, d_model=16, n_heads=2, n_layers=2, d_ff=32, dropout=0.0, max_len=6
    )
    return TransformerCaptioner(config).eval()


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    features = torch.randn(B, P, FEAT, generator=g)
    words = torch.randint(3, V, (B, T), generator=g)
    words[:, 0] = BOS_ID
    return features, words


# --- Show, Attend and Tell ---


def test_sat_shapes_attention_sums_to_one_and_gates() -> None:
    features, words = inputs()
    out = tiny_sat()(features, words)
    assert out.logits.shape == (B, T, V)
    assert out.attentions.shape == (B, T, P)
    assert torch.allclose(out.attentions.sum(-1), torch.ones(B, T), atol=1e-6)
    assert (out.attentions >= 0).all()
    assert out.gates.shape == (B, T) and ((out.gates > 0) & (out.gates < 1)).all()


def test_doubly_stochastic_penalty() -> None:
    uniform = torch.full((B, T, P), 1 / P)
    mask = torch.ones(B, T, dtype=torch.bool)
    expected = (1 - T / P) ** 2  # every patch gets T / P over the caption
    assert torch.isclose(doubly_stochastic_penalty(uniform, mask), torch.tensor(expected))
    # A patch covered exactly once over the caption costs nothing; masked steps do not count.
    one_hot = torch.zeros(1, P, P)
    one_hot[0, torch.arange(P), torch.arange(P)] = 1
    assert doubly_stochastic_penalty(one_hot, torch.ones(1, P, dtype=torch.bool)) == 0
    padded = torch.cat([one_hot, torch.full((1, 2, P), 1 / P)], dim=1)  # two padded steps
    mask = torch.tensor([[True] * P + [False, False]])
    assert doubly_stochastic_penalty(padded, mask) == 0


def test_gated_coverage_weights_each_step_by_its_gate() -> None:
    """--gated-coverage: the penalty sees sum_t beta_t alpha_ti instead of sum_t alpha_ti."""
    from dataclasses import replace

    from models.train.captioner import caption_loss

    plain = tiny_sat()
    gated = ShowAttendTell(replace(plain.config, gated_coverage=True)).eval()
    gated.load_state_dict(plain.state_dict())
    features, words = inputs()
    ids = torch.cat([words, torch.full((B, 1), EOS_ID)], dim=1)  # (B, T + 1), no padding
    out = plain(features, words)
    mask = torch.ones(B, T, dtype=torch.bool)
    ce = torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), ids[:, 1:])
    plain_loss, _ = caption_loss(plain, features, ids)
    gated_loss, _ = caption_loss(gated, features, ids)
    torch.testing.assert_close(plain_loss, ce + doubly_stochastic_penalty(out.attentions, mask))
    torch.testing.assert_close(gated_loss, ce + doubly_stochastic_penalty(out.attentions * out.gates[..., None], mask))
    assert gated_loss > plain_loss  # gates < 1 cover less, and every patch is under-covered here


def test_sat_greedy_matches_teacher_forcing() -> None:
    model = tiny_sat()
    features, _ = inputs()
    out = model.generate(features, BOS_ID, EOS_ID, max_len=6)
    assert out.tokens.shape[0] == B and out.tokens.shape[1] <= 6
    steps = out.tokens.shape[1]
    assert out.spatial.shape == (B, steps, 1, 1, P)
    assert out.gates is not None and out.gates.shape == (B, steps)
    # Feeding the greedy words back (teacher forcing) gives the same argmax words and the same maps.
    prefix = torch.cat([torch.full((B, 1), BOS_ID), out.tokens[:, :-1]], dim=1)
    forced = model(features, prefix)
    for b in range(B):
        row = out.tokens[b].tolist()
        n = row.index(EOS_ID) + 1 if EOS_ID in row else steps
        assert forced.logits[b, :n].argmax(-1).tolist() == row[:n]
        assert torch.allclose(forced.attentions[b, :n], out.spatial[b, :n, 0, 0], atol=1e-6)


def test_greedy_stops_at_eos() -> None:
    model = tiny_sat()
    with torch.no_grad():
        model.L_o.bias.fill_(-100.0)
        model.L_o.bias[EOS_ID] = 100.0  # <eos> always wins
    out = model.generate(inputs()[0], BOS_ID, EOS_ID)
    assert out.tokens.tolist() == [[EOS_ID]] * B


# --- Transformer ---


def test_transformer_shapes_and_distributions() -> None:
    features, words = inputs()
    out = tiny_transformer()(features, words)
    assert out.logits.shape == (B, T, V)
    assert out.cross_attentions.shape == (B, 2, 2, T, P)
    assert out.self_attentions.shape == (B, 2, 2, T, T)
    assert torch.allclose(out.cross_attentions.sum(-1), torch.ones(B, 2, 2, T), atol=1e-6)
    assert torch.allclose(out.self_attentions.sum(-1), torch.ones(B, 2, 2, T), atol=1e-6)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    assert (out.self_attentions[..., future] == 0).all()  # causal: no weight on later words


def test_transformer_greedy_matches_teacher_forcing() -> None:
    model = tiny_transformer()
    features, _ = inputs()
    out = model.generate(features, BOS_ID, EOS_ID, max_len=6)
    steps = out.tokens.shape[1]
    assert out.spatial.shape == (B, steps, 2, 2, P) and out.gates is None
    prefix = torch.cat([torch.full((B, 1), BOS_ID), out.tokens[:, :-1]], dim=1)
    forced = model(features, prefix)
    assert torch.allclose(forced.cross_attentions.permute(0, 3, 1, 2, 4), out.spatial, atol=1e-6)
    for b in range(B):
        row = out.tokens[b].tolist()
        n = row.index(EOS_ID) + 1 if EOS_ID in row else steps
        assert forced.logits[b, :n].argmax(-1).tolist() == row[:n]


@pytest.mark.parametrize("make", [tiny_sat, tiny_transformer])
def test_save_and_load_round_trip(tmp_path: Path, make: object) -> None:
    model = make()  # type: ignore[operator]
    kind = "sat" if isinstance(model, ShowAttendTell) else "transformer"
    vocab = Vocab(("<pad>", "<bos>", "<eos>", "<unk>", *(f"w{i}" for i in range(V - 4))))
    save_decoder(tmp_path, kind, model, vocab, {"known_objects": ["dog"]})
    loaded, loaded_vocab, config = load_decoder(tmp_path)
    assert loaded_vocab == vocab and config["known_objects"] == ["dog"]
    features, words = inputs()
    a, b = model(features, words).logits, loaded(features, words).logits
    assert torch.allclose(a, b, atol=5e-2)  # fp16 weights


def test_vocab_round_trip() -> None:
    vocab = Vocab.build(["a dog above a cat", "an apple"])
    ids = vocab.encode("a dog above a cat")
    assert ids[0] == vocab.index["<bos>"] and ids[-1] == vocab.index["<eos>"]
    assert vocab.decode(ids[1:] + [0, 0]) == "a dog above a cat".split()
    assert vocab.encode("a zebra")[2] == vocab.index["<unk>"]


# --- Scenes: tests/test_scenes.py ---


# --- Shipped weights ---

SHIPPED = [
    m
    for m in ("captioner-sat", "captioner-transformer", "captioner-sat-cnn")
    if (WEIGHTS_DIR / m / "model.safetensors").exists()
]


def held_out_scenes(objects: int, count: int) -> list["sc.Scene"]:
    """The first `count` held-out scenes of the default set (n 6000, seed 0) with this many objects."""
    split = sc.splits(6000, seed=0)
    found = []
    for i in range(6000):
        if split[i] == "test":
            scene = sc.compose(i, 0, "test")
            if len(scene.objects) == objects:
                found.append(scene)
                if len(found) == count:
                    break
    return found


def first_test_scene(objects: int) -> "sc.Scene":
    """A fixed held-out scene of the default set with this many objects."""
    return held_out_scenes(objects, 1)[0]


@pytest.mark.parametrize("model_id", SHIPPED)
def test_shipped_weights_caption_test_scenes_and_point_inside(model_id: str) -> None:
    """The trained decoders on 12 held-out two-object scenes, through the served path (PNG bytes -> caption).

    Thresholds sit below the measured test-split figures (reports/caption_eval.json: object recall 0.55-0.63;
    pointing 0.958 captioner-sat, 0.933 captioner-transformer, 0.861 captioner-sat-cnn over its 16 px cells) and
    above chance (0.12-0.14 of the cells lie in an object's box): a regression check, not the evaluation.
    """
    from models.serve.captioner import load_captioner

    folder = WEIGHTS_DIR / model_id
    # fp16; the CNN grid decoder is the largest (it holds the frozen ImageNet head it reads the cells through)
    assert (folder / "model.safetensors").stat().st_size < 12_000_000
    for name in ("config.json", "vocab.json", "metrics.json", "README.md"):
        assert (folder / name).exists(), name
    model = load_captioner(model_id)
    hits, named, mentioned = [], 0, 0
    for scene in held_out_scenes(2, 12):
        out = model.attend(sc.scene_png(scene))
        T = len(out.tokens)
        assert out.caption == " ".join(out.tokens) and T > 0
        h, w = out.grid  # 16 x 16 DINOv2 patches of 14 px, or 14 x 14 CNN cells of 16 px
        assert out.spatial.shape[0] == T and out.spatial.shape[-2:] == (h, w) and (h, w) in ((16, 16), (14, 14))
        assert torch.allclose(out.spatial.sum((-2, -1)), torch.ones(out.spatial.shape[:3]), atol=1e-4)
        boxes = {o.name: o.box for o in scene.objects}
        named += len(set(out.tokens) & set(boxes))
        mentioned += len(boxes)
        for t, word in enumerate(out.tokens):
            if word in boxes:
                layer = -1 if model.pointing_layer is None else model.pointing_layer  # the layer the page opens
                grid_map = out.spatial[t, layer].mean(0)  # mean over heads: (h, w)
                r, c = divmod(int(grid_map.argmax()), w)
                left, top, right, bottom = boxes[word]
                hits.append(left <= (c + 0.5) * 224 / w < right and top <= (r + 0.5) * 224 / h < bottom)
    assert named / mentioned >= POINTING_FLOOR[model_id][0], (named, mentioned)
    assert np.mean(hits) >= POINTING_FLOOR[model_id][1], hits


POINTING_FLOOR = {  # (share of scene objects named, pointing) that the shipped weights must reach here
    "captioner-sat": (0.45, 0.8),
    "captioner-transformer": (0.45, 0.8),
    "captioner-sat-cnn": (0.4, 0.65),  # measured here (beam 3, as served): 0.54 named, 18 of 23 words pointed (0.78)
}


@pytest.mark.parametrize("make", [tiny_sat, tiny_transformer])
def test_beam_of_one_is_greedy_and_wider_beams_are_distributions(make: object) -> None:
    from models.serve.captioner import beam_search

    model = make()  # type: ignore[operator]
    features = inputs()[0][:1]
    greedy = model.generate(features, BOS_ID, EOS_ID, max_len=6)
    one = beam_search(model, features, BOS_ID, EOS_ID, beam=1, max_len=6)
    assert one.tokens.tolist() == greedy.tokens.tolist()
    assert torch.allclose(one.spatial, greedy.spatial, atol=1e-6)
    wide = beam_search(model, features, BOS_ID, EOS_ID, beam=4, max_len=6)
    assert wide.spatial.shape[:2] == wide.tokens.shape
    assert torch.allclose(wide.spatial.sum(-1), torch.ones(wide.spatial.shape[:-1]), atol=1e-6)


@pytest.mark.parametrize("make", [tiny_sat, tiny_transformer])
def test_batched_decode_is_each_image_decoded_alone(make: object) -> None:
    """models.serve.captioner.decode: beam 1 is the batched greedy caption; a wider beam is each image's own
    beam search, padded to one length (<pad> ids, all-zero maps and probabilities after the hypothesis)."""
    from models.serve.captioner import beam_search, decode

    model = make()  # type: ignore[operator]
    features = inputs()[0]
    greedy = model.generate(features, BOS_ID, EOS_ID)
    assert decode(model, features, BOS_ID, EOS_ID, beam=1).tokens.tolist() == greedy.tokens.tolist()
    batch = decode(model, features, BOS_ID, EOS_ID, beam=3)
    for b in range(B):
        alone = beam_search(model, features[b : b + 1], BOS_ID, EOS_ID, beam=3)
        n = alone.tokens.shape[1]
        assert batch.tokens[b, :n].tolist() == alone.tokens[0].tolist()
        assert (batch.tokens[b, n:] == 0).all() and (batch.spatial[b, n:] == 0).all()
        torch.testing.assert_close(batch.spatial[b, :n], alone.spatial[0])
        assert batch.token_probs is not None and alone.token_probs is not None
        torch.testing.assert_close(batch.token_probs[b, :n], alone.token_probs[0])


def test_served_decoding_follows_the_config_beam(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A captioner folder whose config says beam 3 is served with beam search of width 3 (attend() with no beam),
    attend(beam=1) is still the greedy caption, and no `beam` in the config means greedy."""
    import io
    import json
    import shutil

    from PIL import Image

    import models.serve.captioner as served

    folder = tmp_path / "captioner-sat-cnn"
    shutil.copytree(WEIGHTS_DIR / "captioner-sat-cnn", folder)
    config = json.loads((folder / "config.json").read_text())
    config.pop("beam", None)
    (folder / "config.json").write_text(json.dumps(config))
    assert served.load_captioner("captioner-sat-cnn", folder).beam == 1
    (folder / "config.json").write_text(json.dumps({**config, "beam": 3}))
    model = served.load_captioner("captioner-sat-cnn", folder)
    widths: list[int] = []
    real = served.beam_search
    monkeypatch.setattr(served, "beam_search", lambda *a, **k: widths.append(a[4]) or real(*a, **k))
    buffer = io.BytesIO()
    Image.new("RGB", (224, 224), (90, 140, 60)).save(buffer, format="PNG")
    wide = model.attend(buffer.getvalue())
    assert widths == [3]
    greedy = model.attend(buffer.getvalue(), beam=1)
    assert widths == [3]  # greedy: no beam search
    assert wide.token_probs is not None and greedy.token_probs is not None


def test_patch_features_read_the_named_layer_standardised() -> None:
    """The captioners' annotation vectors: hidden_states[layer] patch tokens, LayerNorm without affine;
    layer None (weights trained before the feature layer was chosen) keeps last_hidden's patches."""
    from models.nets.dinov2 import Dinov2Output, patch_features

    torch.manual_seed(0)
    hidden = torch.randn(2, 4, 1 + 9, 8) * 5 + 3  # (B, L + 1, N, D)
    output = Dinov2Output(
        last_hidden=torch.randn(2, 10, 8), hidden_states=hidden, attentions=torch.zeros(2, 3, 1, 10, 10), grid=(3, 3)
    )
    features = patch_features(output, 2)
    assert features.shape == (2, 9, 8)
    torch.testing.assert_close(features.mean(-1), torch.zeros(2, 9), atol=1e-5, rtol=0)
    torch.testing.assert_close(features.std(-1, unbiased=False), torch.ones(2, 9), atol=1e-3, rtol=0)
    torch.testing.assert_close(
        features * hidden[:, 2, 1:].std(-1, keepdim=True, unbiased=False) + hidden[:, 2, 1:].mean(-1, keepdim=True),
        hidden[:, 2, 1:],
        atol=1e-3,
        rtol=0,
    )
    assert torch.equal(patch_features(output, None), output.last_hidden[:, 1:])


@pytest.mark.parametrize("model_id", SHIPPED)
def test_shipped_weights_name_the_layer_they_read(model_id: str) -> None:
    """Serving reads the layer written in config.json, the one the training features came from."""
    import json

    from models.serve.captioner import load_captioner

    config = json.loads((WEIGHTS_DIR / model_id / "config.json").read_text())
    assert load_captioner(model_id).feature_layer == config.get("feature_layer")


def test_canonical_caption_names_the_left_or_upper_object_first() -> None:
    """Training's one phrasing per scene: backward relations only where no forward chain exists."""
    assert sc.canonical_caption(("a fish to the right of a house", "a house to the left of a fish")) == (
        "a house to the left of a fish"
    )
    assert sc.canonical_caption(("a cake below a guitar", "a guitar above a cake")) == "a guitar above a cake"
    assert sc.canonical_caption(("a bird",)) == "a bird"
    for i in range(40):
        scene = sc.compose(i, 0)
        chosen = sc.canonical_caption(scene.references)
        assert chosen in scene.references
        if len(scene.objects) == 2:
            assert not any(b in chosen for b in sc.BACKWARD_RELATIONS), chosen
