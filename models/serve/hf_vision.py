"""Local Hugging Face vision folders as attnviz models: ViT-like encoders (class-token maps and
rollout on the patch grid) and VisionEncoderDecoder captioners (per-word cross-attention maps).

Eager attention always; nothing is downloaded. Images go through models.serve.images (the
hostile-upload-safe decoder), then are normalised with the folder's own mean and std.
Dimensions: L layers, H heads, N tokens = prefix tokens + h * w patches, T generated tokens.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.contract import ClsAttentionMaps, ImageAttentionOutput, PreprocessedImage
from models.formats.hf_folder import inspect_folder
from models.readouts import attention_rollout
from models.serve import hf_heads
from models.serve.images import preprocess_image


def prefix_maps(attentions: torch.Tensor, grid: tuple[int, int]) -> ClsAttentionMaps:
    """attentions (..., N, N) -> first token's weights on the h x w patches, and on the prefix tokens
    (class, distillation or register tokens) summed as `cls_self`: the two add up to 1."""
    h, w = grid
    prefix = attentions.shape[-1] - h * w
    if prefix < 1:
        raise ValueError(f"{attentions.shape[-1]} tokens cannot hold a {h}x{w} grid plus a class token")
    first = attentions[..., 0, :]  # (..., N)
    patches = first[..., prefix:].reshape(*first.shape[:-1], h, w)  # (..., h, w)
    return ClsAttentionMaps(patches=patches, cls_self=first[..., :prefix].sum(-1))


class HFVisionModel:
    """A Hugging Face vision encoder (class-token maps) or VisionEncoderDecoder (caption + cross-attention maps)."""

    def __init__(self, model: Any, folder: Path, tokenizer: Any | None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        vision = model.config.encoder if tokenizer is not None else model.config
        self.image_size = int(getattr(vision, "image_size", 224))
        self.patch = int(getattr(vision, "patch_size", 16))
        processor = folder / "preprocessor_config.json"
        settings = json.loads(processor.read_text()) if processor.is_file() else {}
        self.mean = np.array(settings.get("image_mean", [0.5, 0.5, 0.5]), dtype=np.float32)[:, None, None]
        self.std = np.array(settings.get("image_std", [0.5, 0.5, 0.5]), dtype=np.float32)[:, None, None]
        hf_heads.install(self.model)  # eager attention, with heads that can be switched off
        kinds = ("encoder_self", "decoder_self", "cross") if tokenizer is not None else ("self",)
        self.attention_modules = hf_heads.attention_modules(self.model, kinds)

    @classmethod
    def from_folder(cls, folder: Path) -> "HFVisionModel":
        from transformers import AutoModel, AutoTokenizer, VisionEncoderDecoderModel

        if inspect_folder(folder).kind == "vision-encoder-decoder":
            model = VisionEncoderDecoderModel.from_pretrained(
                folder, attn_implementation="eager", local_files_only=True
            )
            return cls(model, folder, AutoTokenizer.from_pretrained(folder, local_files_only=True))
        return cls(AutoModel.from_pretrained(folder, attn_implementation="eager", local_files_only=True), folder, None)

    def pixels(self, data: bytes) -> tuple[PreprocessedImage, torch.Tensor]:
        image = preprocess_image(data, size=self.image_size, multiple=self.patch)
        chw = image.rgb.transpose(2, 0, 1).astype(np.float32) / 255.0  # (3, H, W)
        normalised = (chw - self.mean) / self.std
        return image, torch.from_numpy(normalised)[None]

    def attend(self, data: bytes, head_mask: dict[str, torch.Tensor] | None = None) -> ImageAttentionOutput:
        """Raises models.contract.ImageInputError for bytes that are not a usable image. head_mask (kind -> (L, H),
        0 = off; ViT: self, captioners: encoder_self, decoder_self or cross) switches heads off for the run."""
        with hf_heads.heads_off(self.attention_modules, head_mask):
            return self._attend(data)

    def _attend(self, data: bytes) -> ImageAttentionOutput:
        image, pixel_values = self.pixels(data)
        grid = (pixel_values.shape[2] // self.patch, pixel_values.shape[3] // self.patch)
        with torch.inference_mode():
            if self.tokenizer is not None:
                return self._caption(image, pixel_values, grid)
            out = self.model(pixel_values=pixel_values, output_attentions=True, output_hidden_states=True)
        attentions = torch.stack([a[0] for a in out.attentions]).float()  # (L, H, N, N)
        prefix = attentions.shape[-1] - grid[0] * grid[1]
        norms = out.hidden_states[-1][0, prefix:].norm(dim=-1).reshape(grid)  # (h, w)
        return ImageAttentionOutput(
            image=image,
            grid=grid,
            attentions=attentions,
            cls_maps=prefix_maps(attentions, grid),
            rollout_maps=prefix_maps(attention_rollout(attentions), grid),
            patch_norms=norms.float(),
        )

    def _caption(
        self, image: PreprocessedImage, pixel_values: torch.Tensor, grid: tuple[int, int]
    ) -> ImageAttentionOutput:
        """Greedy generation, then one teacher-forced pass for every step's cross-attention at once;
        the maps also carry the weight on the class token (non_patch), as the decoder saw it."""
        generated = self.model.generate(pixel_values=pixel_values, max_new_tokens=32, num_beams=1, do_sample=False)[0]
        out = self.model(pixel_values=pixel_values, decoder_input_ids=generated[:-1][None], output_attentions=True)
        cross = torch.stack([a[0] for a in out.cross_attentions]).float()  # (L, H, T, N)
        h, w = grid
        prefix = cross.shape[-1] - h * w
        spatial = cross[..., prefix:].reshape(*cross.shape[:-1], h, w)  # (L, H, T, h, w)
        return ImageAttentionOutput(
            image=image,
            grid=grid,
            caption=self.tokenizer.decode(generated[1:], skip_special_tokens=True),  # type: ignore[union-attr]
            tokens=tuple(str(t) for t in self.tokenizer.convert_ids_to_tokens(generated[1:].tolist())),  # type: ignore[union-attr]
            spatial=spatial.permute(2, 0, 1, 3, 4),  # (T, L, H, h, w)
            non_patch=cross[..., :prefix].sum(-1).permute(2, 0, 1),  # (T, L, H)
        )


def load_hf_vision_folder(folder: str) -> HFVisionModel:
    """Catalog loader for a vision folder registered with --hf-model NAME=PATH."""
    return HFVisionModel.from_folder(Path(folder))
