"""The Hugging Face vision adapter on tiny random ViT and VisionEncoderDecoder folders built here."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import GPT2Config, GPT2LMHeadModel, VisionEncoderDecoderModel, ViTConfig, ViTModel

from models.catalog import hf_spec
from models.serve.hf_vision import HFVisionModel
from tests.test_hf_adapter import save_tokenizer

VIT = {"image_size": 56, "patch_size": 14, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
       "intermediate_size": 32}


def photo() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("hfv")
    vit = root / "vit"
    ViTModel(ViTConfig(**VIT), add_pooling_layer=False).save_pretrained(vit)
    (vit / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    ved = root / "ved"
    decoder = GPT2LMHeadModel(GPT2Config(vocab_size=14, n_embd=16, n_layer=2, n_head=4, n_positions=40,
                                         add_cross_attention=True, is_decoder=True, bos_token_id=1, eos_token_id=2))
    model = VisionEncoderDecoderModel(encoder=ViTModel(ViTConfig(**VIT), add_pooling_layer=False), decoder=decoder)
    model.config.decoder_start_token_id = 1
    model.config.pad_token_id = 0
    model.config.eos_token_id = 2
    model.save_pretrained(ved)
    save_tokenizer(ved)
    return {"vit": vit, "ved": ved}


def test_specs(folders: dict[str, Path]) -> None:
    assert hf_spec("v", folders["vit"]).task == "vision"
    caption = hf_spec("c", folders["ved"])
    assert caption.task == "captioning" and caption.shapes()[2] == ("cross", 2, 4)


def test_vit_class_token_maps_match_the_model(folders: dict[str, Path]) -> None:
    adapter = HFVisionModel.from_folder(folders["vit"])
    out = adapter.attend(photo())
    assert out.spatial is None and out.caption is None and out.cls_maps is not None and out.rollout_maps is not None
    assert out.grid == (4, 4) and out.cls_maps.patches.shape == (2, 2, 4, 4)
    _, pixels = adapter.pixels(photo())
    with torch.no_grad():
        reference = torch.stack(ViTModel.from_pretrained(folders["vit"], attn_implementation="eager")(
            pixel_values=pixels, output_attentions=True).attentions)[:, 0]  # (L, H, N, N)
    assert torch.allclose(out.cls_maps.patches.flatten(-2), reference[..., 0, 1:], atol=1e-6)
    total = out.cls_maps.patches.sum(dim=(-1, -2)) + out.cls_maps.cls_self
    assert torch.allclose(total, torch.ones_like(total), atol=1e-5)
    rollout_total = out.rollout_maps.patches.sum(dim=(-1, -2)) + out.rollout_maps.cls_self
    assert torch.allclose(rollout_total, torch.ones_like(rollout_total), atol=1e-5)


def test_caption_cross_attention_equals_step_by_step_generation(folders: dict[str, Path]) -> None:
    adapter = HFVisionModel.from_folder(folders["ved"])
    out = adapter.attend(photo())
    assert out.spatial is not None and out.non_patch is not None and out.tokens is not None and out.cls_maps is None
    T = len(out.tokens)
    assert T >= 1 and out.spatial.shape == (T, 2, 4, 4, 4)  # (T, L, H, h, w)
    total = out.spatial.sum(dim=(-1, -2)) + out.non_patch
    assert torch.allclose(total, torch.ones_like(total), atol=1e-5)
    _, pixels = adapter.pixels(photo())
    with torch.no_grad():
        ref = adapter.model.generate(pixel_values=pixels, max_new_tokens=32, num_beams=1, do_sample=False,
                                     output_attentions=True, return_dict_in_generate=True)
    for t in range(T):
        step = torch.stack([layer[0, :, -1, 1:] for layer in ref.cross_attentions[t]])  # (L, H, h * w)
        assert torch.allclose(out.spatial[t].flatten(-2), step, atol=1e-5)


def test_vit_folder_through_the_image_api(folders: dict[str, Path]) -> None:
    from fastapi.testclient import TestClient

    from app.core.config import Settings
    from app.main import create_app

    with TestClient(create_app(Settings(hf_models={"tiny-vit": folders["vit"]}))) as client:
        upload = {"file": ("x.png", photo(), "image/png")}
        r = client.post("/api/attention/image", data={"model": "tiny-vit"}, files=upload)
        assert r.status_code == 200
        body = r.json()
        assert body["grid"] == [4, 4]
        cls_maps = [m for m in body["maps"] if m["kind"] == "cls" and m["head"] is not None]
        assert len(cls_maps) == 2 * 2
        for m in cls_maps:
            assert abs(sum(map(sum, m["values"])) + m["cls_self"] - 1) < 1e-4
