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
