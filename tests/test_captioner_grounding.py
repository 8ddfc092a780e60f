"""Attention grounding for the Show-Attend-Tell trainer (models/train/grounding.py, captioner.py --grounding).

Tiny configs and hand-made scenes: the cells follow the pointing game's cell-centre-in-box test, the loss is
today's exactly when off, and the grounding term is -log(attention mass inside the box), differentiable through
the attention. The trainer runs end to end on a few scenes with random features.
"""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.data import scenes as sc
from models.evaluate.captions import point_hits
from models.formats.captioner_folder import Vocab
from models.nets.sat import SatConfig, ShowAttendTell, doubly_stochastic_penalty
from models.train import captioner
from models.train.grounding import EPS, box_cells, cells_in_box, grounding_loss, noun_cells


def thing(name: str, box: tuple[int, int, int, int]) -> sc.SceneObject:
    left, top, right, _ = box
    return sc.SceneObject(name, "emoji:x", box, right - left, (left, top), False, 0.0, (1.0, 1.0, 1.0))


def scene(index: int, *objects: sc.SceneObject, split: str = "train") -> sc.Scene:
    return sc.Scene(index, split, "storm", (0, 0, 100), objects, sc.captions(objects))


DOG = thing("dog", (40, 10, 90, 60))  # 7 x 7 grid (32 px): centres 48, 80 across, 16, 48 down
CAT = thing("cat", (100, 100, 110, 110))  # holds no 32 px cell centre; its centre (105, 105) is in cell (3, 3)


def cells(*flat: int, size: int = 49) -> np.ndarray:
    out = np.zeros(size, dtype=bool)
    out[list(flat)] = True
    return out


def test_cells_are_the_cell_centres_inside_the_box() -> None:
    assert np.array_equal(cells_in_box(DOG.box, (7, 7)), cells(1, 2, 8, 9))
    # 14 x 14 (16 px): centres 40, 56, 72, 88 across (cols 2-5), 24, 40, 56 down (rows 1-3)
    expected = cells(*(r * 14 + c for r in (1, 2, 3) for c in (2, 3, 4, 5)), size=196)
    assert np.array_equal(cells_in_box(DOG.box, (14, 14)), expected)
    assert not cells_in_box(CAT.box, (7, 7)).any()
    assert np.array_equal(box_cells(CAT.box, (7, 7)), cells(3 * 7 + 3))  # the cell holding the box centre
    assert np.array_equal(box_cells(DOG.box, (7, 7)), cells_in_box(DOG.box, (7, 7)))
    # a centre on the left / top edge is in, on the right / bottom edge out
    assert np.array_equal(cells_in_box((48, 16, 80, 48), (7, 7)), cells(1))


@pytest.mark.parametrize("grid", [(7, 7), (14, 14), (16, 16)])
def test_cells_are_where_the_pointing_game_scores_a_hit(grid: tuple[int, int]) -> None:
    """A map peaked on cell i is a strict pointing hit exactly when the grounding marks cell i."""
    P = grid[0] * grid[1]
    one_hot = np.eye(P)[:, None, :]  # (P, 1, P): step i peaks on cell i
    strict, _, _ = point_hits(one_hot, ["dog"] * P, scene(0, DOG), grid)
    assert np.array_equal(np.concatenate(strict), cells_in_box(DOG.box, grid))


def test_masks_per_scene_and_noun_with_boxes_of_one_name_merged() -> None:
    twins = (thing("dog", (0, 0, 40, 40)), thing("dog", (150, 150, 224, 224)))
    scenes = [scene(0, DOG, CAT), scene(1, thing("car", (0, 0, 224, 224))), scene(2, *twins)]
    vocab = Vocab.build([r for s in scenes for r in s.references])
    built = noun_cells(scenes, vocab.index, (7, 7))
    index = vocab.index
    assert built.words.shape == (3, 2) and built.cells.shape == (3, 2, 49) and built.cells.dtype == torch.bool
    assert built.words.tolist() == [[index["cat"], index["dog"]], [index["car"], -1], [index["dog"], -1]]
    assert np.array_equal(built.cells[0, 0].numpy(), cells(24))  # cat: the cell of its centre
    assert np.array_equal(built.cells[0, 1].numpy(), cells(1, 2, 8, 9))
    assert built.cells[1, 0].all() and not built.cells[1, 1].any()
    either = box_cells(twins[0].box, (7, 7)) | box_cells(twins[1].box, (7, 7))
    assert np.array_equal(built.cells[2, 0].numpy(), either) and either.sum() == 1 + 4


@pytest.mark.parametrize("phrasing", [0, 1])
def test_step_cells_look_words_up_in_any_phrasing(phrasing: int) -> None:
    scenes = [scene(0, DOG, CAT), scene(1, thing("cat", (0, 0, 224, 224)))]
    vocab = Vocab.build([r for s in scenes for r in s.references])
    built = noun_cells(scenes, vocab.index, (7, 7))
    captions = [scenes[0].references[phrasing], scenes[1].references[0]]  # "a cat below a dog" or its reverse
    ids = captioner.batch_ids(vocab, captions)
    step = built.step_cells([0, 1], ids[:, 1:])  # (B, T, P)
    assert step.shape == (2, ids.shape[1] - 1, 49)
    for b, caption in enumerate(captions):
        words = caption.split() + ["<eos>"] + ["<pad>"] * (ids.shape[1] - 2 - len(caption.split()))
        for t, word in enumerate(words):
            k = built.words[b].tolist().index(vocab.index[word]) if word in ("dog", "cat") else None
            expected = built.cells[b, k] if k is not None else torch.zeros(49, dtype=torch.bool)
            assert torch.equal(step[b, t], expected), (b, t, word)
    assert step[1, 1].all()  # the second scene's cat fills the canvas


def test_grounding_loss_by_hand() -> None:
    """Mean over the named steps of -log(mass inside + EPS): a map inside the box costs less than one outside."""
    box = torch.tensor([True, False, False, False])
    inside = torch.tensor([0.7, 0.1, 0.1, 0.1])
    outside = torch.tensor([0.1, 0.7, 0.1, 0.1])
    none = torch.zeros(4, dtype=torch.bool)
    step_cells = torch.stack([box, none, box])[None]  # (1, 3, 4): the middle step names nothing
    good = grounding_loss(torch.stack([inside, outside, inside])[None], step_cells)
    bad = grounding_loss(torch.stack([outside, inside, outside])[None], step_cells)
    assert math.isclose(float(good), -math.log(0.7 + EPS), rel_tol=1e-6)
    assert math.isclose(float(bad), -math.log(0.1 + EPS), rel_tol=1e-6)
    assert good < bad
    two = torch.tensor([[True, True, False, False], [False, False, False, True]])[None]  # (1, 2, 4)
    mixed = grounding_loss(torch.stack([inside, outside])[None], two)
    assert math.isclose(float(mixed), -(math.log(0.8 + EPS) + math.log(0.1 + EPS)) / 2, rel_tol=1e-6)
    assert float(grounding_loss(torch.full((1, 3, 4), 0.25), none.expand(1, 3, 4))) == 0  # nothing named
    assert torch.isfinite(grounding_loss(torch.tensor([[[0.0, 1.0, 0.0, 0.0]]]), box[None, None]))  # all outside


B, T, V, FEAT = 3, 5, 12, 16
GRID = (2, 3)
P = GRID[0] * GRID[1]


def tiny_sat(**changes: object) -> ShowAttendTell:
    torch.manual_seed(0)
    config = SatConfig(
        vocab_size=V, feature_dim=FEAT, grid=GRID, embed_dim=8, hidden_dim=16, attention_dim=8, dropout=0.0, max_len=6
    )
    return ShowAttendTell(replace(config, **changes)).train()  # type: ignore[arg-type]


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """features (B, P, F), ids (B, T + 1) with padding in the last row, cells (B, T, P) on two target words."""
    g = torch.Generator().manual_seed(1)
    features = torch.randn(B, P, FEAT, generator=g)
    ids = torch.randint(4, V, (B, T + 1), generator=g)
    ids[:, 0], ids[:, -1], ids[2, -2:] = 1, 2, torch.tensor([2, 0])
    step_cells = torch.zeros(B, T, P, dtype=torch.bool)
    step_cells[0, 1, :2] = True
    step_cells[1, 3, 4] = True
    return features, ids, step_cells


@pytest.mark.parametrize("gated", [False, True])
def test_loss_without_grounding_is_todays_and_with_it_adds_the_term(gated: bool) -> None:
    decoder = tiny_sat(gated_coverage=gated)
    features, ids, step_cells = batch()
    torch.manual_seed(2)
    out = decoder(features, ids[:, :-1])
    ce = torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), ids[:, 1:], ignore_index=0)
    covered = out.attentions * out.gates[..., None] if gated else out.attentions
    today = ce + doubly_stochastic_penalty(covered, ids[:, 1:] != 0)
    plain, _ = captioner.caption_loss(decoder, features, ids)
    assert torch.equal(plain, today)
    grounded, _ = captioner.caption_loss(decoder, features, ids, None, (0.5, step_cells))
    torch.testing.assert_close(grounded, today + 0.5 * grounding_loss(out.attentions, step_cells))  # alpha, not beta
    nothing, _ = captioner.caption_loss(decoder, features, ids, None, (0.5, torch.zeros_like(step_cells)))
    assert torch.equal(nothing, today)


def test_grounding_term_is_finite_and_trains_the_attention() -> None:
    decoder = tiny_sat()
    features, ids, step_cells = batch()
    term = grounding_loss(decoder(features, ids[:, :-1]).attentions, step_cells)
    assert torch.isfinite(term) and term > 0
    term.backward()
    for name, p in decoder.attention.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    # a few steps on the term alone raise the mass inside the cells
    optimizer = torch.optim.SGD(decoder.parameters(), lr=0.5)
    before = term.item()
    for _ in range(5):
        optimizer.zero_grad()
        loss = grounding_loss(decoder(features, ids[:, :-1]).attentions, step_cells)
        loss.backward()
        optimizer.step()
    assert grounding_loss(decoder(features, ids[:, :-1]).attentions, step_cells).item() < before


def test_grounding_with_a_decoder_reading_the_classes() -> None:
    decoder = tiny_sat(reads="classes", classes=10, evidence=2, gated_coverage=True)
    with torch.no_grad():
        decoder.head_weight.normal_()  # a classifier head that tells the cells apart
    features, ids, step_cells = batch()
    log_probs = decoder.class_log_probs(features)  # what the trainer precomputes
    loss, _ = captioner.caption_loss(decoder, features, ids, log_probs, (1.0, step_cells))
    plain, _ = captioner.caption_loss(decoder, features, ids, log_probs)
    assert torch.isfinite(loss) and loss > plain
    loss.backward()
    assert decoder.attention.v.weight.grad is not None and decoder.attention.v.weight.grad.abs().sum() > 0


# --- the trainer end to end ---

NAMES = ("dog", "cat", "car", "apple")


def scenes_folder(root: Path, layer: str, width: int, cells: int) -> Path:
    """Eight composed-scene records (six train, two val) and random features of one layer."""
    folder = root / "scenes"
    folder.mkdir()
    records = []
    for i in range(8):
        a, b = NAMES[i % 4], NAMES[(i + 1) % 4]
        records.append(scene(i, thing(a, (10, 20, 60 + 5 * i, 90)), thing(b, (140, 100, 200, 180)), split="train"))
    records[6], records[7] = replace(records[6], split="val"), replace(records[7], split="val")
    (folder / "scenes.jsonl").write_text("".join(json.dumps(s.to_json()) + "\n" for s in records))
    (folder / "manifest.json").write_text(json.dumps({"seed": 0}))
    rng = np.random.default_rng(0)
    np.save(folder / f"features-{layer}.npy", rng.standard_normal((8, cells, width)).astype(np.float16))
    np.save(folder / f"features-{layer}.done.npy", np.ones(8, dtype=bool))
    if layer == "cnn":
        info = {"evidence_nouns": ["dog", "cat"], "evidence_classes": [[1, 2], [3]]}
        (folder / f"features-{layer}.json").write_text(json.dumps(info))
    return folder


def run(folder: Path, out: Path, *extra: str) -> Path:
    captioner.main(
        ["--model", "sat", "--scenes", str(folder), "--out", str(out), "--checkpoints", str(out.parent / "ck"),
         "--epochs", "2", "--eval-every", "1", "--batch", "4", "--lr", "0.003", *extra]
    )  # fmt: skip
    return out


def test_trainer_with_grounding_zero_is_unchanged_and_records_a_positive_one(tmp_path: Path) -> None:
    folder = scenes_folder(tmp_path, "7", width=8, cells=16)  # a 4 x 4 grid
    plain = run(folder, tmp_path / "a" / "w", "--feature-layer", "7", "--gated-coverage")
    zero = run(folder, tmp_path / "b" / "w", "--feature-layer", "7", "--gated-coverage", "--grounding", "0")
    for name in ("model.safetensors", "config.json"):  # (the card's CPU-minutes may differ)
        assert (plain / name).read_bytes() == (zero / name).read_bytes(), name
    assert "grounding" not in json.loads((plain / "config.json").read_text())
    grounded = run(folder, tmp_path / "c" / "w", "--feature-layer", "7", "--grounding", "0.5")
    assert json.loads((grounded / "config.json").read_text())["grounding"] == 0.5
    assert "attention grounding" in (grounded / "README.md").read_text()
    assert (grounded / "model.safetensors").read_bytes() != (plain / "model.safetensors").read_bytes()


def test_trainer_grounds_a_decoder_reading_the_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--reads classes --gated-coverage --grounding over a 7 x 7 CNN grid (the classifier head left at zero)."""
    monkeypatch.setattr(captioner, "fill_classifier", lambda *args: None)
    folder = scenes_folder(tmp_path, "cnn", width=1280 + 2, cells=49)
    out = run(folder, tmp_path / "w", "--feature-layer", "cnn", "--reads", "classes", "--gated-coverage",
              "--grounding", "1.0")  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["grounding"] == 1.0 and config["config"]["grid"] == [7, 7]
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert len(history) == 2 and all(math.isfinite(h["train_ce"]) for h in history)


def test_trainer_refuses_grounding_where_it_does_not_apply() -> None:
    with pytest.raises(SystemExit):
        captioner.main(["--model", "transformer", "--grounding", "0.5"])
    with pytest.raises(SystemExit):
        captioner.main(["--model", "sat", "--grounding", "-1"])


def test_the_grounding_choice_rule() -> None:
    from models.evaluate.grounding_choice import choose

    def candidate(bleu: float, pointing: float, named: int) -> dict:
        return {"val_bleu4": bleu, "val_pointing": pointing, "dev_photos": {"named": named, "photos": 22}}

    base = candidate(52.0, 0.70, 11)
    assert choose({"0": base, "1.0": candidate(51.0, 0.85, 11)}) == "1.0"
    assert choose({"0": base, "1.0": candidate(49.9, 0.90, 12)}) is None  # BLEU-4 below 50
    assert choose({"0": base, "1.0": candidate(55.0, 0.90, 10)}) is None  # names fewer dev photos
    assert choose({"0": base, "1.0": candidate(52.0, 0.69, 12)}) is None  # points no better
    assert choose({"0": base, "0.3": candidate(51.0, 0.80, 11), "3.0": candidate(50.5, 0.88, 13)}) == "3.0"
