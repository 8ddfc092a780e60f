"""The image panels of /concepts: a captioner's attention for each word on a composed photo scene, and
DINOv2's patches, class token and attention rollout on a sample photo. Maps are the served models' weights.

Dimensions: T caption words, L layers, H heads, (h, w) the patch grid.
"""

import base64
import io
from typing import Any

from app.services.concepts_lecture import rounded
from app.services.inference import InferenceService
from models.contract import ImageAttentionOutput, InputError

VIT = "dinov2-s14"
CAPTIONERS = ("captioner-sat", "captioner-transformer")


def png_data_url(output: ImageAttentionOutput) -> str:
    """The pixels the model saw (its input crop) as a PNG data URL, so the grid lies exactly on it."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(output.image.rgb).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def scene_bytes(index: int) -> tuple[bytes, str]:
    """Test-split scene `index` of models/data/scenes.py as PNG bytes, with its reference caption."""
    from models.data.scenes import canonical_caption, compose, scene_png

    scene = compose(index, split="test")
    return scene_png(scene), canonical_caption(scene.references)


def captioning(inference: InferenceService, model_id: str, scene: int) -> dict[str, Any]:
    """`model_id`'s caption (as served) of a composed test scene, with one map per generated word: the
    attention of the step that produced it over the patches (its pointing layer's mean over heads, or
    the only map of Show-Attend-Tell), and the weight left on non-patch tokens."""
    if model_id not in CAPTIONERS:
        raise InputError(f"Pick a captioner: {', '.join(CAPTIONERS)}.")
    data, reference = scene_bytes(scene)
    out = inference.image(model_id, data)
    assert out.spatial is not None and out.tokens is not None  # a captioner's output (models.contract)
    layers = out.spatial.shape[1]
    layer = out.pointing_layer if out.pointing_layer is not None else layers - 1
    maps = out.spatial[:, layer].mean(dim=1)  # (T, h, w)
    outside = out.non_patch[:, layer].mean(dim=1) if out.non_patch is not None else maps.sum(dim=(1, 2)) * 0
    return {
        "model": model_id,
        "scene": scene,
        "reference": reference,
        "caption": out.caption,
        "tokens": list(out.tokens),
        "grid": list(out.grid),
        "layer": layer,
        "layers": layers,
        "image": png_data_url(out),
        "maps": rounded(maps),
        "non_patch": rounded(outside),
        "gates": None if out.gates is None else rounded(out.gates),
    }


def vit(inference: InferenceService, data: bytes, sample: str) -> dict[str, Any]:
    """DINOv2 on a photo: its patch grid, the class token's attention over the patches per layer (mean
    over heads, raw: the class token keeps cls_self on itself) and the class-token row of attention
    rollout through each layer."""
    out = inference.image(VIT, data)
    assert out.cls_maps is not None and out.rollout_maps is not None  # a backbone's output (models.contract)
    h, w = out.grid
    return {
        "model": VIT,
        "sample": sample,
        "grid": [h, w],
        "patch_size": out.image.record.final_size[0] // w,
        "tokens": int(out.attentions.shape[-1]) if out.attentions is not None else h * w + 1,
        "image": png_data_url(out),
        "cls": rounded(out.cls_maps.patches.mean(dim=1)),  # (L, h, w)
        "cls_self": rounded(out.cls_maps.cls_self.mean(dim=1)),  # (L,)
        "rollout": rounded(out.rollout_maps.patches),  # (L, h, w)
        "rollout_self": rounded(out.rollout_maps.cls_self),  # (L,)
    }
