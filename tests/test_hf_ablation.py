"""Head ablation for Hugging Face folders (models/serve/hf_heads.py): no head off is exactly the unablated
answer; a head off equals zeroing its slice of the output projection's input (a forward pre-hook, the
definition); its own softmax weights do not move; generation runs with the head off; an architecture whose
attention bypasses transformers' interface is refused, never silently unablated; and the API serves it."""

import dataclasses
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from models.contract import InputError
from models.serve.hf_text import HFAttentionModel
from tests.test_hf_adapter import folders  # noqa: F401  (the tiny HF folders fixture)


def _mask(L: int, H: int, off: list[tuple[int, int]]) -> torch.Tensor:
    m = torch.ones(L, H)
    for layer, head in off:
        m[layer, head] = 0
    return m


def _hooked_hidden(model: HFAttentionModel, dense: torch.nn.Module, head: int, size: int, text: str) -> torch.Tensor:
    def pre(_: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = args[0].clone()
        x[..., head * size : (head + 1) * size] = 0
        return (x, *args[1:])

    handle = dense.register_forward_pre_hook(pre)
    try:
        ids = model.tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            return model.model(input_ids=ids).last_hidden_state
    finally:
        handle.remove()


def test_bert_head_off_equals_the_definition(folders: dict[str, Path]) -> None:  # noqa: F811
    model = HFAttentionModel.from_folder(folders["bert"])
    text = "the cat sat on the mat"
    plain = model.attend(text)
    none_off = model.attend(text, {"self": torch.ones(2, 4)})
    assert torch.equal(plain.stacks[0].weights, none_off.stacks[0].weights)
    ids = model.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        expected = _hooked_hidden(model, model.model.encoder.layer[0].attention.output.dense, 2, 4, text)
        from models.serve import hf_heads

        with hf_heads.heads_off(model.attention_modules, {"self": _mask(2, 4, [(0, 2)])}):
            got = model.model(input_ids=ids).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    ablated = model.attend(text, {"self": _mask(2, 4, [(0, 2)])})
    assert torch.equal(ablated.stacks[0].weights[0], plain.stacks[0].weights[0])  # layer 0's own weights stay
    assert not torch.allclose(ablated.stacks[0].weights[1], plain.stacks[0].weights[1])  # layer 1 reads the change


@pytest.mark.parametrize("name", ["gpt2", "bart", "t5"])
def test_decoders_and_generation_run_with_heads_off(folders: dict[str, Path], name: str) -> None:  # noqa: F811
    model = HFAttentionModel.from_folder(folders[name])
    text = "the cat sat"
    plain = model.attend(text)
    kinds = {s.kind: s.weights.shape[:2] for s in plain.stacks}
    kind = "cross" if "cross" in kinds else "decoder_self"
    L, H = kinds[kind]
    everything_off = {kind: torch.zeros(L, H)}
    ablated = model.attend(text, everything_off)
    changed = any(
        a.weights.shape != b.weights.shape or not torch.allclose(a.weights, b.weights)
        for a, b in zip(plain.stacks, ablated.stacks, strict=True)
    ) or plain.output_tokens != ablated.output_tokens
    assert changed
    again = model.attend(text, {kind: torch.ones(L, H)})
    assert all(torch.equal(a.weights, b.weights) for a, b in zip(plain.stacks, again.stacks, strict=True))


def test_a_head_the_run_never_reached_is_refused() -> None:
    """A module with a head off that the forward never ran through the interface: an error, not a quiet no-op."""
    from models.serve import hf_heads

    bypass = torch.nn.Linear(2, 2)
    with pytest.raises(InputError, match="outside transformers' attention interface"):
        with hf_heads.heads_off({("self", 0): bypass}, {"self": _mask(1, 2, [(0, 1)])}):
            bypass(torch.zeros(1, 2))  # runs, but not through the attention interface
    with pytest.raises(InputError, match="cannot reach self layer 3"):
        with hf_heads.heads_off({("self", 0): bypass}, {"self": _mask(4, 2, [(3, 1)])}):
            pass


def test_api_ablates_a_registered_folder(folders: dict[str, Path]) -> None:  # noqa: F811
    from app.main import create_app
    from app.services.registry import ModelRegistry
    from models.catalog import CATALOG, hf_spec

    spec = hf_spec("tiny-bert", folders["bert"])
    with TestClient(create_app(registry=ModelRegistry([*CATALOG, spec]))) as client:
        info = next(m for m in client.get("/api/models").json() if m["id"] == "tiny-bert")
        assert "ablate" in info["options"]
        body = {"model": "tiny-bert", "text": "the cat sat on the mat"}
        plain = client.post("/api/attention/text", json=body).json()
        same = client.post("/api/attention/text", json={**body, "ablate": []}).json()
        assert same == plain
        off = client.post("/api/attention/text", json={**body, "ablate": [[0, 2]]})
        assert off.status_code == 200, off.text
        maps = {(m["layer"], m["head"]): m["values"] for m in off.json()["maps"]}
        plain_maps = {(m["layer"], m["head"]): m["values"] for m in plain["maps"]}
        assert maps[(0, 2)] == plain_maps[(0, 2)] and maps[(1, 0)] != plain_maps[(1, 0)]
        assert dataclasses.is_dataclass(spec)


def test_vision_folders_switch_heads_off() -> None:
    """A ViT folder through /api/attention/image: no head off is the unablated answer; a layer-0 head off
    moves the later layers' class-token maps and leaves its own."""
    import tempfile

    from transformers import ViTConfig, ViTModel

    from app.main import create_app
    from app.services.registry import ModelRegistry
    from models.catalog import CATALOG, hf_spec
    from tests.test_hf_vision_adapter import VIT, photo

    torch.manual_seed(0)
    folder = Path(tempfile.mkdtemp()) / "vit"
    ViTModel(ViTConfig(**VIT), add_pooling_layer=False).save_pretrained(folder)
    spec = hf_spec("tiny-vit", folder)
    files = {"file": ("p.png", photo(), "image/png")}
    with TestClient(create_app(registry=ModelRegistry([*CATALOG, spec]))) as client:
        plain = client.post("/api/attention/image", data={"model": "tiny-vit"}, files=files).json()
        same = client.post("/api/attention/image", data={"model": "tiny-vit", "ablate": "[]"}, files=files).json()
        assert same == plain
        off = client.post("/api/attention/image", data={"model": "tiny-vit", "ablate": "[[0, 1]]"}, files=files)
        assert off.status_code == 200, off.text
        get = lambda body, layer, head: next(  # noqa: E731
            m["values"] for m in body["maps"] if m["kind"] == "cls" and m["layer"] == layer and m["head"] == head)
        assert get(off.json(), 0, 1) == get(plain, 0, 1) and get(off.json(), 1, 0) != get(plain, 1, 0)


@pytest.mark.parametrize("name", ["bert", "gpt2", "bart", "t5"])
def test_the_masking_implementation_is_exactly_eager(folders: dict[str, Path], name: str) -> None:  # noqa: F811
    """With no head off, every map equals the same folder loaded with transformers' own eager attention (the
    causal and padding masks included: they are built as for eager)."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    adapter = HFAttentionModel.from_folder(folders[name])
    auto = {"bert": AutoModel, "gpt2": AutoModelForCausalLM}.get(name, AutoModelForSeq2SeqLM)
    eager = auto.from_pretrained(folders[name], attn_implementation="eager", local_files_only=True).eval()
    ids = adapter.tokenizer("the cat sat on the mat", return_tensors="pt")["input_ids"]
    extra = {} if name in ("bert", "gpt2") else {"decoder_input_ids": torch.tensor([[2, 5, 6, 7]])}
    with torch.inference_mode():
        ours = adapter.model(input_ids=ids, output_attentions=True, **extra)
        theirs = eager(input_ids=ids, output_attentions=True, **extra)
    fields = ("attentions",) if name in ("bert", "gpt2") else ("encoder_attentions", "decoder_attentions",
                                                                 "cross_attentions")  # fmt: skip
    for field in fields:
        for a, b in zip(getattr(ours, field), getattr(theirs, field), strict=True):
            assert torch.equal(a, b), field
