"""Detected faces as "person" evidence for captioner-sat-cnn (models/nets/face_cues.py): the cell geometry, the
detector on what the model sees, the decoder's use of the cue column, the grid's layout, and the choice rule."""

import numpy as np
import pytest
import torch
from torch import nn

from models.nets.cnn_grid import CHANNELS, CnnGrid, with_parents
from models.nets.face_cues import IMAGENET_MEAN, IMAGENET_STD, FaceCueConfig, FaceCues, cell_cover
from models.nets.sat import EVIDENCE_EPS, SatConfig, ShowAttendTell
from tests.test_cnn_captioner import TinyClassifier


def test_a_cells_cue_is_the_share_a_face_box_covers() -> None:
    cover = cell_cover([(0, 0, 32, 32)], (14, 14), 448).reshape(14, 14)  # exactly the top-left cell
    assert cover[0, 0] == 1 and cover.sum() == 1
    half = cell_cover([(16, 0, 32, 32)], (14, 14), 448).reshape(14, 14)  # half of two cells
    assert torch.allclose(half[0, :2], torch.tensor([0.5, 0.5])) and half.sum() == 1
    both = cell_cover([(0, 0, 64, 32), (0, 0, 16, 32)], (14, 14), 448).reshape(14, 14)  # largest share, not a sum
    assert both[0, 0] == 1 and both[0, 1] == 1 and both.sum() == 2
    assert cell_cover([], (14, 14), 448).sum() == 0


def normalised(grey: np.ndarray) -> torch.Tensor:
    """(H, W) uint8 grey -> (1, 3, H, W) ImageNet-normalised pixels, as models/serve/images.py makes them."""
    rgb = torch.from_numpy(grey).float()[None, None].expand(1, 3, *grey.shape) / 255
    return (rgb - torch.tensor(IMAGENET_MEAN)[None, :, None, None]) / torch.tensor(IMAGENET_STD)[None, :, None, None]


def test_the_detector_sees_the_model_input_in_grey_levels_and_finds_no_face_in_a_flat_image() -> None:
    cues = FaceCues(FaceCueConfig(side=64))
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))  # (64, 64)
    grey = cues.grey(normalised(ramp))
    assert grey.shape == (1, 64, 64) and np.abs(grey[0].astype(int) - ramp).max() <= 1  # the same grey levels back
    flat = cues(normalised(np.full((224, 224), 128, dtype=np.uint8)), (14, 14))
    assert flat.shape == (1, 196, 1) and float(flat.sum()) == 0


class FixedCues(FaceCues):
    """A stand-in detector: one face box, wherever the pixels are."""

    box = (0, 0, 64, 64)  # x, y, width, height in detection pixels

    def boxes(self, grey: np.ndarray) -> list[tuple[int, int, int, int]]:
        return [self.box]


def test_the_grid_puts_the_face_cue_last() -> None:
    torch.manual_seed(0)
    grid = CnnGrid(TinyClassifier(), [[3, 7]], scales=2, faces=FixedCues(FaceCueConfig(side=448)))
    out = grid(torch.randn(2, 3, 224, 224))
    assert grid.annotation_dim == 2 * CHANNELS + 1 + 1 and out.annotations.shape == (2, 196, grid.annotation_dim)
    cue = out.annotations[..., -1].reshape(2, 14, 14)
    assert torch.equal(cue[:, :2, :2], torch.ones(2, 2, 2)) and float(cue.sum()) == 8  # 2 x 2 cells of 32 px
    plain = CnnGrid(grid.classifier, [[3, 7]], scales=2)(torch.randn(1, 3, 224, 224))
    assert plain.annotations.shape[-1] == out.annotations.shape[-1] - 1


def decoders(V: int = 10, K: int = 2) -> tuple[ShowAttendTell, ShowAttendTell]:
    """A two-scale decoder without cues and the same weights reading one cue column for word 6."""
    base = dict(
        vocab_size=V, grid=(14, 14), embed_dim=16, hidden_dim=24, attention_dim=16, max_len=4, reads="classes",
        evidence=K, evidence_bias=True, scales=2,
    )  # fmt: skip
    torch.manual_seed(0)
    plain = ShowAttendTell(SatConfig(feature_dim=2 * CHANNELS + K, **base)).eval()  # type: ignore[arg-type]
    head = nn.Linear(CHANNELS, 1000)
    plain.head_weight.copy_(head.weight.detach())
    plain.head_bias.copy_(head.bias.detach())
    plain.noun_members[5, 6] = 1.0
    cued = ShowAttendTell(SatConfig(feature_dim=2 * CHANNELS + K + 1, cues=(6,), **base)).eval()  # type: ignore[arg-type]
    cued.load_state_dict(plain.state_dict())
    return plain, cued


def test_the_cue_column_is_first_scale_evidence_for_its_word_and_nothing_else() -> None:
    plain, cued = decoders()
    V = plain.config.vocab_size
    features = with_parents(torch.randn(2, 196, CHANNELS), torch.randn(2, 49, CHANNELS + 2))
    cue = torch.zeros(2, 196, 1)
    cue[:, :20] = 0.75
    a0, cache0, h0, c0 = plain.start(features)
    a1, cache1, h1, c1 = cued.start(torch.cat([features, cue], dim=-1))
    assert torch.equal(a1[..., :2000], a0[..., :2000]) and torch.equal(h1, h0)  # the classifier's view unchanged
    added = a1[..., 2000:] - a0[..., 2000:]  # (2, 196, 2V): each scale's word evidence
    assert torch.allclose(added[..., 6], cue[..., 0]) and float(added.abs().sum() - added[..., 6].abs().sum()) == 0
    word = torch.tensor([1, 1])
    logits0, alpha0, _, _, _ = plain.step(word, a0, cache0, h0, c0)
    logits1, alpha1, _, _, _ = cued.step(word, a1, cache1, h1, c1)
    assert torch.allclose(alpha1, alpha0) and torch.allclose(alpha1.sum(-1), torch.ones(2), atol=1e-6)
    e0 = (alpha0 * a0[..., 2000 + 6]).sum(-1)  # attended first-scale evidence of word 6, without and with the cue
    e1 = e0 + (alpha0 * cue[..., 0]).sum(-1)
    gain = float(cued.evidence_gain[0].detach())
    expected = gain * (torch.log1p(e1 / EVIDENCE_EPS) - torch.log1p(e0 / EVIDENCE_EPS))
    assert torch.allclose(logits1[:, 6] - logits0[:, 6], expected, atol=1e-4)
    others = [w for w in range(V) if w != 6]
    assert torch.allclose(logits1[:, others], logits0[:, others], atol=1e-5)
    zero = cued.start(torch.cat([features, torch.zeros(2, 196, 1)], dim=-1))[0]
    assert torch.allclose(zero, a0)  # no face: exactly the decoder without cues


def test_cues_need_the_evidence_bias() -> None:
    with pytest.raises(ValueError, match="cues need evidence_bias"):
        ShowAttendTell(SatConfig(vocab_size=8, feature_dim=2 * CHANNELS + 1, reads="classes", evidence=0, cues=(5,)))


def test_the_choice_rule_keeps_every_dev_photo_and_the_validation_scores() -> None:
    from models.evaluate.face_cues_choice import choose

    def row(named: list[str], bleu: float = 50.0, pointing: float = 0.8) -> dict:
        return {"dev_named_ids": named, "val_bleu4": bleu, "val_pointing": pointing}

    base = row(["a", "b"])
    assert choose({"none": base, "5": row(["a", "b", "c"]), "12": row(["a", "b", "c"])}) == "12"  # ties: fewer hits
    assert choose({"none": base, "5": row(["a", "b", "c", "d"]), "12": row(["a", "b", "c"])}) == "5"
    assert choose({"none": base, "5": row(["a", "c", "d"])}) == "none"  # loses a named dev photo
    assert choose({"none": base, "5": row(["a", "b", "c"], bleu=49.7)}) == "none"  # validation BLEU-4 drops
    assert choose({"none": base, "5": row(["a", "b", "c"], pointing=0.796)}) == "none"  # validation pointing drops
    assert choose({"none": base, "5": row(["a", "b"])}) == "none"  # names no more: no cues


def test_the_served_cnn_captioner_reads_faces_as_person() -> None:
    """Shipped weights and config: the grid of captioner-sat-cnn carries the face cue (none on chelsea, a cat), and
    a face over the whole photo (a stand-in detector) makes "person" far likelier as the first noun."""
    from models.nets.caption_common import BOS
    from models.serve.captioner import load_captioner
    from tests.maps_baseline import sample_bytes

    model = load_captioner("captioner-sat-cnn")
    assert isinstance(model.backbone, CnnGrid) and isinstance(model.backbone.faces, FaceCues)
    assert model.backbone.faces.config.min_neighbors == 12  # reports/face_cues_choice.md
    photo = sample_bytes("chelsea")
    _, _, plain, _ = model.features(photo)
    assert plain.shape[-1] == model.decoder.config.feature_dim and float(plain[0, :, -1].sum()) == 0
    assert "person" not in model.attend(photo).tokens
    whole = FixedCues(FaceCueConfig(side=224))
    whole.box = (0, 0, 224, 224)  # one face box over the whole detection image
    model.backbone.faces = whole
    _, _, cued, _ = model.features(photo)
    assert torch.equal(cued[0, :, -1], torch.ones(196)) and torch.equal(cued[..., :-1], plain[..., :-1])
    index, decoder = model.vocab.index, model.decoder
    assert isinstance(decoder, ShowAttendTell)

    def first_noun(features: torch.Tensor) -> torch.Tensor:  # log-probabilities after "<bos> a"
        with torch.no_grad():
            a, cache, h, c = decoder.start(features)
            _, _, _, h, c = decoder.step(torch.tensor([index[BOS]]), a, cache, h, c)
            return decoder.step(torch.tensor([index["a"]]), a, cache, h, c)[0].log_softmax(-1)[0]

    before, after = first_noun(plain), first_noun(cued)
    assert after[index["person"]] > before[index["person"]] + 2  # over 7 times likelier
