"""captioner-sat-cnn: Show-Attend-Tell over EfficientNet-Lite0's 7 x 7 grid with per-cell class evidence
(models/nets/cnn_grid.py), on tiny configs and on the real ImageNet network."""

import torch
from torch import nn

from models.nets.caption_common import CaptionOutput
from models.nets.cnn_grid import CHANNELS, CnnGrid
from models.nets.sat import SatConfig, ShowAttendTell, doubly_stochastic_penalty


class TinyClassifier(nn.Module):
    """The two pieces CnnGrid uses: extract_features (B, 1280, 7, 7) and the linear head _fc."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, CHANNELS, kernel_size=32, stride=32)
        self._fc = nn.Linear(CHANNELS, 1000)

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.stem(x))


def test_grid_annotations_carry_features_and_class_evidence() -> None:
    torch.manual_seed(0)
    evidence = [list(range(1000)), [], [3, 7]]  # every class, none, two
    grid = CnnGrid(TinyClassifier(), evidence)
    out = grid(torch.randn(2, 3, 224, 224))
    assert out.features.shape == (2, 49, CHANNELS) and out.logits.shape == (2, 49, 1000)
    assert out.annotations.shape == (2, 49, grid.annotation_dim) == (2, 49, CHANNELS + 3)
    assert torch.equal(out.annotations[..., :CHANNELS], out.features)
    evidence = out.annotations[..., CHANNELS:]
    assert torch.allclose(evidence[..., 0], torch.ones(2, 49), atol=1e-5)  # every class: all the mass
    assert torch.equal(evidence[..., 1], torch.zeros(2, 49))  # no class: nothing
    probs = out.logits.softmax(-1)
    assert torch.allclose(evidence[..., 2], probs[..., 3] + probs[..., 7], atol=1e-6)


def test_sat_over_the_cnn_grid_attends_over_49_cells_and_learns() -> None:
    torch.manual_seed(0)
    config = SatConfig(
        vocab_size=12, feature_dim=CHANNELS + 3, grid=(7, 7), embed_dim=16, hidden_dim=24, attention_dim=16, max_len=5
    )
    decoder = ShowAttendTell(config)
    features = torch.randn(2, 49, config.feature_dim)
    words = torch.randint(4, 12, (2, 4))
    out = decoder(features, words)
    assert out.attentions.shape == (2, 4, 49)
    assert torch.allclose(out.attentions.sum(-1), torch.ones(2, 4), atol=1e-6)
    loss = nn.functional.cross_entropy(out.logits.transpose(1, 2), words)
    loss = loss + doubly_stochastic_penalty(out.attentions, torch.ones(2, 4, dtype=torch.bool))
    loss.backward()
    grads = [p.grad for p in decoder.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    generated: CaptionOutput = decoder.generate(features, 1, 2)
    assert generated.spatial.shape[-1] == 49
    assert torch.allclose(generated.spatial.sum(-1), torch.ones(generated.spatial.shape[:-1]), atol=1e-6)


def test_per_cell_logits_average_to_the_classifiers_own_logits() -> None:
    """The head is linear after average pooling, so the cells' logits average to the photo's logits: the
    per-cell evidence is the ImageNet classifier's own reading, localised."""
    from models.formats.efficientnet_lite import imagenet_classes, load_efficientnet_lite0

    net = load_efficientnet_lite0()
    grid = CnnGrid(net, [[0]])
    pixels = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        pooled = net(pixels)[0]
    out = grid(pixels)
    assert torch.allclose(out.logits[0].mean(0), pooled, atol=1e-3)
    assert len(imagenet_classes()) == 1000 and imagenet_classes()[285][0] == "n02124075"  # Egyptian cat


def test_nouns_cover_their_imagenet_classes() -> None:
    from models.data.imagenet_words import noun_classes
    from models.formats.efficientnet_lite import imagenet_classes

    names = [lemma for _, lemma in imagenet_classes()]
    assert len(noun_classes("dog")) >= 100  # every breed
    assert {names[i].split(",")[0] for i in noun_classes("cat")} >= {"tabby", "Egyptian cat"}
    assert names[noun_classes("mouse")[0]].startswith("mouse")  # the rodent, not the computer mouse
    assert noun_classes("key") == []  # corrected by hand: WordNet's first covering sense is the space bar


def test_sat_reading_the_classifier_adds_the_attended_evidence_to_noun_scores() -> None:
    """reads = "classes": the decoder sees each cell's 1000 class log-probabilities (the frozen head), and the
    evidence bias adds gain * log(1 + e / eps) to a noun's score, e = attention-weighted class mass of that noun."""
    from models.nets.sat import EVIDENCE_EPS

    torch.manual_seed(0)
    V, K = 12, 3
    config = SatConfig(
        vocab_size=V, feature_dim=CHANNELS + K, grid=(7, 7), embed_dim=16, hidden_dim=24, attention_dim=16,
        max_len=5, reads="classes", evidence=K, evidence_bias=True,
    )  # fmt: skip
    decoder = ShowAttendTell(config).eval()
    head = nn.Linear(CHANNELS, 1000)
    decoder.head_weight.copy_(head.weight.detach())
    decoder.head_bias.copy_(head.bias.detach())
    decoder.noun_members[[3, 7], 5] = 1.0  # word 5 is the noun of classes 3 and 7
    features = torch.randn(2, 49, config.feature_dim)
    a, cache, h, c = decoder.start(features)
    assert a.shape == (2, 49, 1000 + V)  # normalised log-probabilities, then each word's evidence per cell
    probs = head(features[..., :CHANNELS]).softmax(-1)  # (2, 49, 1000): the stored evidence columns are not read
    assert torch.allclose(a[..., 1000 + 5], probs[..., 3] + probs[..., 7], atol=1e-6)
    assert torch.equal(a[..., 1000:1005], torch.zeros(2, 49, 5))
    word = torch.tensor([1, 1])
    logits, alpha, _, _, _ = decoder.step(word, a, cache, h, c)  # evidence_gain starts at 1
    assert torch.allclose(alpha.sum(-1), torch.ones(2), atol=1e-6)
    with torch.no_grad():
        decoder.evidence_gain.zero_()
    plain, _, _, _, _ = decoder.step(word, a, cache, h, c)
    expected = torch.log1p((alpha[:, :, None] * (probs[..., 3] + probs[..., 7])[..., None]).sum(1) / EVIDENCE_EPS)
    assert torch.allclose(logits[:, 5] - plain[:, 5], expected[:, 0], atol=1e-5)
    assert torch.allclose(logits[:, :5], plain[:, :5], atol=1e-6)  # words without classes: untouched
    decoder.train()
    with torch.no_grad():
        decoder.evidence_gain.fill_(1.0)
    out = decoder(features, torch.randint(4, V, (2, 4)))
    out.logits.sum().backward()
    assert decoder.evidence_gain.grad is not None and float(decoder.evidence_gain.grad.abs()) > 0
    assert decoder.head_weight.grad is None  # a buffer: the classifier stays frozen


def test_two_scale_grid_puts_each_fine_cell_beside_its_coarse_cell() -> None:
    from models.nets.cnn_grid import with_parents

    torch.manual_seed(0)
    grid = CnnGrid(TinyClassifier(), [[3, 7]], scales=2)
    assert grid.grid == (14, 14) and grid.cell == 16 and grid.annotation_dim == 2 * CHANNELS + 1
    pixels = torch.randn(1, 3, 224, 224)
    out = grid(pixels)
    assert out.annotations.shape == (1, 196, 2 * CHANNELS + 1) and out.features.shape == (1, 196, CHANNELS)
    assert out.logits.shape == (1, 49, 1000)  # the 224 px pass's: the decoder reads the fine cells' itself
    coarse = CnnGrid(TinyClassifier(), [[3, 7]])
    coarse.load_state_dict(grid.state_dict())
    coarse_out = coarse(pixels)  # (1, 49, C + 1)
    for fine_cell in (0, 1, 14, 15, 16, 195):  # fine (r, c) lies in coarse (r // 2, c // 2)
        r, c = divmod(fine_cell, 14)
        parent = (r // 2) * 7 + c // 2
        assert torch.equal(out.annotations[0, fine_cell, CHANNELS:], coarse_out.annotations[0, parent])
    assert torch.equal(out.annotations[..., :CHANNELS], out.features)
    small = torch.arange(2 * 4 * 1.0).reshape(1, 4, 2)  # a 2 x 2 coarse grid of 2 channels
    assert with_parents(torch.zeros(1, 16, 1), small)[0, :, 1:].tolist()[:8] == [
        [0, 1], [0, 1], [2, 3], [2, 3], [0, 1], [0, 1], [2, 3], [2, 3]
    ]  # fmt: skip


def test_two_scale_sat_reads_both_passes_through_the_classifier() -> None:
    torch.manual_seed(0)
    V, K = 10, 2
    config = SatConfig(
        vocab_size=V, feature_dim=2 * CHANNELS + K, grid=(14, 14), embed_dim=16, hidden_dim=24, attention_dim=16,
        max_len=4, reads="classes", evidence=K, evidence_bias=True, scales=2,
    )  # fmt: skip
    decoder = ShowAttendTell(config)
    head = nn.Linear(CHANNELS, 1000)
    decoder.head_weight.copy_(head.weight.detach())
    decoder.head_bias.copy_(head.bias.detach())
    decoder.noun_members[5, 6] = 1.0
    from models.nets.cnn_grid import with_parents

    features = with_parents(torch.randn(2, 196, CHANNELS), torch.randn(2, 49, CHANNELS + K))  # as CnnGrid lays out
    a, _, _, _ = decoder.start(features)
    assert a.shape == (2, 196, 2 * 1000 + 2 * V)
    fine, coarse = head(features[..., :CHANNELS]).softmax(-1), head(features[..., CHANNELS : 2 * CHANNELS]).softmax(-1)
    log_probs = decoder.class_log_probs(features)  # each 224 px cell read once, spread to its 4 fine cells
    torch.testing.assert_close(log_probs.exp(), torch.stack([fine, coarse], dim=2), atol=1e-6, rtol=1e-5)
    assert torch.allclose(a[..., 2000 + 6], fine[..., 5], atol=1e-6)
    assert torch.allclose(a[..., 2000 + V + 6], coarse[..., 5], atol=1e-6)
    out = decoder(features, torch.randint(3, V, (2, 3)))
    assert out.attentions.shape == (2, 3, 196)
    assert torch.allclose(out.attentions.sum(-1), torch.ones(2, 3), atol=1e-6)
    out.logits.sum().backward()
    assert decoder.evidence_gain.grad is not None and decoder.evidence_gain.grad.shape == (2,)
