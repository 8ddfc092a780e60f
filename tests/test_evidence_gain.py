"""captioner-sat-cnn's evidence scale (a decoding choice, models/evaluate/evidence_gain_choice.py): the loader
multiplies the learned evidence gains and nothing else, the served config carries the chosen factor, and the rule."""

import json
from pathlib import Path

import pytest
import torch

from models.formats.captioner_folder import Vocab, load_decoder, save_decoder
from models.nets.cnn_grid import CHANNELS, with_parents
from models.nets.sat import EVIDENCE_EPS, ShowAttendTell
from tests.test_face_cues import decoders


def saved(tmp_path: Path, scale: float | None) -> Path:
    plain, _ = decoders()
    vocab = Vocab(("<pad>", "<bos>", "<eos>", "<unk>", *(f"w{i}" for i in range(6))))
    folder = tmp_path / f"scale-{scale}"
    save_decoder(folder, "sat", plain, vocab, {} if scale is None else {"evidence_scale": scale})
    return folder


def first_step(decoder: ShowAttendTell) -> tuple[torch.Tensor, ...]:
    """Two random two-scale grids through the decoder's first step: features, word, logits (B, V), alpha (B, P) and
    the attended evidence (B, 2, V) per scale."""
    torch.manual_seed(1)
    features = with_parents(torch.randn(2, 196, CHANNELS), torch.randn(2, 49, CHANNELS + 2))
    word = torch.tensor([1, 1])
    with torch.no_grad():
        a, cache, h, c = decoder.start(features)
        logits, alpha, _, _, _ = decoder.step(word, a, cache, h, c)
        SV = 2 * decoder.config.vocab_size
        attended = (alpha[..., None] * a[..., -SV:]).sum(1).unflatten(-1, (2, -1))  # (B, 2, V) evidence per scale
    return features, word, logits, alpha, attended


def test_the_scale_multiplies_the_evidence_term_of_the_nouns_scores_and_nothing_else(tmp_path: Path) -> None:
    base, _, _ = load_decoder(saved(tmp_path, None))
    scaled, _, _ = load_decoder(saved(tmp_path, 2.5))
    assert torch.allclose(scaled.evidence_gain, 2.5 * base.evidence_gain)
    features, word, logits0, alpha0, attended = first_step(base)
    with torch.no_grad():
        logits1, alpha1, _, _, _ = scaled.step(word, *scaled.start(features))
        term = (base.evidence_gain[:, None] * torch.log1p(attended / EVIDENCE_EPS)).sum(1)  # (B, V)
    assert torch.equal(alpha1, alpha0)  # where it looks is untouched
    assert float(term[:, 6].abs().min()) > 0.1  # word 6 has evidence here, so the check below can fail
    assert torch.allclose(logits1 - logits0, 1.5 * term, atol=1e-4)


def test_a_scale_needs_the_evidence_bias(tmp_path: Path) -> None:
    from tests.test_captioner import tiny_transformer

    vocab = Vocab(("<pad>", "<bos>", "<eos>", "<unk>", *(f"w{i}" for i in range(16))))
    save_decoder(tmp_path, "transformer", tiny_transformer(), vocab, {"evidence_scale": 2.0})
    with pytest.raises(ValueError, match="need a Show-Attend-Tell decoder"):
        load_decoder(tmp_path)


def test_the_unvouched_penalty_lowers_those_nouns_scores_by_exactly_that_much(tmp_path: Path) -> None:
    from models.formats.captioner_folder import unvouched_words

    plain, _ = decoders()  # noun_members: only word 6 (w2) has a class (5); w0..w5 named below
    vocab = Vocab(("<pad>", "<bos>", "<eos>", "<unk>", *(f"w{i}" for i in range(6))))
    nouns = {"evidence_nouns": ["w1", "w2", "w3"], "evidence_classes": [[], [5], []]}
    folders = []
    for extra in ({}, {"unvouched_penalty": 1.5}):
        folders.append(tmp_path / str(len(folders)))
        save_decoder(folders[-1], "sat", plain, vocab, {**nouns, **extra})
    (base, _, config), (lowered, _, _) = load_decoder(folders[0]), load_decoder(folders[1])
    assert unvouched_words(vocab, config) == [5, 7]  # w1 and w3: no ImageNet class; w2 has one
    torch.manual_seed(2)
    features = with_parents(torch.randn(2, 196, CHANNELS), torch.randn(2, 49, CHANNELS + 2))
    word = torch.tensor([1, 1])
    with torch.no_grad():
        logits0 = base.step(word, *base.start(features))[0]
        logits1 = lowered.step(word, *lowered.start(features))[0]
    expected = torch.zeros(base.config.vocab_size)
    expected[[5, 7]] = -1.5
    assert torch.allclose(logits1 - logits0, expected.expand_as(logits0), atol=1e-5)
    with_cue = {**json.loads((folders[1] / "config.json").read_text())}
    with_cue["config"]["cues"] = [7]
    assert unvouched_words(vocab, with_cue) == [5]  # a cue column vouches for its word


def test_the_choice_rule() -> None:
    from models.evaluate.evidence_gain_choice import choose

    def row(named: list[str], bleu: float = 53.0, pointing: float = 0.87) -> dict:
        return {"dev_named_ids": named, "val_bleu4": bleu, "val_pointing": pointing}

    base = row(["a", "b"])
    assert choose({"trained": base, "x1.5": row(["a", "c", "d"]), "x2": row(["a", "b", "c"])}) == "x1.5"  # ties
    assert choose({"trained": base, "x1.5": row(["a", "b", "c"]), "-1": row(["a", "b", "c", "d"])}) == "-1"
    assert choose({"trained": base, "x1.5": row(["a", "b", "c"], bleu=51.9)}) == "trained"  # BLEU-4 too low
    assert choose({"trained": base, "x1.5": row(["a", "b", "c"], pointing=0.859)}) == "trained"  # pointing too low
    assert choose({"trained": base, "x1.5": row(["c", "d"])}) == "trained"  # names no more: the trained decoder


def test_the_more_scenes_rule() -> None:
    """A retrain on twice the scenes is adopted only when allowed and naming more dev photos than the served one."""
    from models.evaluate.more_scenes_choice import choose

    def row(named: int, bleu: float = 53.0, pointing: float = 0.87) -> dict:
        return {"dev_named": named, "val_bleu4": bleu, "val_pointing": pointing}

    assert choose({"served": row(15), "x2": row(16)}) == "x2"
    assert choose({"served": row(15), "x2": row(15)}) == "served"  # a tie keeps the served weights
    assert choose({"served": row(15), "x2": row(18, bleu=51.9)}) == "served"
    assert choose({"served": row(15), "x2": row(18, pointing=0.859)}) == "served"
    assert choose({"served": row(15, bleu=40.0), "x2": row(14)}) == "served"


def test_the_seed_rule() -> None:
    """Among several seeds the allowed one naming the most dev photos wins, the earlier seed on ties, and only when it
    names more than the served seed 0."""
    from models.evaluate.more_scenes_choice import choose

    def row(named: int, bleu: float = 53.0, pointing: float = 0.87) -> dict:
        return {"dev_named": named, "val_bleu4": bleu, "val_pointing": pointing}

    assert choose({"seed 0": row(15), "seed 1": row(17), "seed 2": row(17), "seed 3": row(16)}) == "seed 1"
    assert choose({"seed 0": row(15), "seed 1": row(14), "seed 2": row(15), "seed 3": row(16)}) == "seed 3"
    assert choose({"seed 0": row(15), "seed 1": row(19, bleu=51.0), "seed 2": row(15)}) == "seed 0"
    assert choose({"seed 0": row(15), "seed 1": row(19, pointing=0.85), "seed 2": row(16)}) == "seed 2"


def test_the_seed_report_lists_every_seed_and_the_captions_each_changes() -> None:
    from models.evaluate.seed_choice import markdown

    def row(captions: dict[str, str]) -> dict:
        named = sum(c.endswith("cat") for c in captions.values())
        return {
            "dev_named": named,
            "dev_photos": 2,
            "dev_pointing": None,
            "val_bleu4": 53.0,
            "val_pointing": 0.87,
            "dev_captions": captions,
        }

    training = {
        "epochs": 12,
        "data": {"splits": "4800 / 600 / 600"},
        "val_bleu4": 52.0,
        "best_epoch": 10,
        "train_seconds": 1.0,
    }
    rows = {
        "served (seed 0)": row({"p": "a dog", "q": "a cat"}),
        "seed 1": row({"p": "a cat", "q": "a cat"}),
        "seed 2": row({"p": "a dog", "q": "a cat"}),
    }
    text = markdown(
        {
            "rows": rows,
            "chosen": "seed 1",
            "command": "c",
            "candidate_training": {"seed 1": training, "seed 2": training},
        }
    )
    assert "Chosen: seed 1." in text and "| seed 2 | 1/2 | - |" in text and "| seed 1 | 2/2 |" in text
    assert 'to seed 1:\n\n- p: "a dog" -> "a cat"' in text and "to seed 2" not in text  # seed 2 changes nothing


def test_the_served_config_scale_is_the_reported_choice() -> None:
    root = Path(__file__).resolve().parents[1]
    config = json.loads((root / "models/weights/captioner-sat-cnn/config.json").read_text())
    report = json.loads((root / "reports/evidence_gain_choice.json").read_text())
    from models.evaluate.evidence_gain_choice import CANDIDATES, KEYS

    assert {k: config[k] for k in KEYS if k in config} == CANDIDATES[report["chosen"]]
    assert list(report["rows"]) == list(CANDIDATES)


def test_the_wider_dev_rule_counts_both_photo_sets_and_keeps_the_served_seed_on_ties() -> None:
    from models.evaluate.wider_dev_choice import SERVED, choose

    def row(score: int, bleu: float = 53.0, pointing: float = 0.87) -> dict[str, float]:
        return {"score": score, "val_bleu4": bleu, "val_pointing": pointing}

    assert choose({SERVED: row(74), "seed 3": row(74)}) == SERVED  # a tie keeps the served seed
    assert choose({SERVED: row(74), "seed 1": row(80, pointing=0.85), "seed 3": row(75)}) == "seed 3"
    assert choose({SERVED: row(74), "seed 1": row(90, bleu=51.9)}) == SERVED  # not allowed
    assert choose({SERVED: row(74), "seed 2": row(76), "seed 3": row(76)}) == "seed 2"  # the earlier on ties


def test_confident_evidence_adds_its_ramp_above_the_threshold_and_nothing_else(tmp_path: Path) -> None:
    plain, _ = decoders()
    vocab = Vocab(("<pad>", "<bos>", "<eos>", "<unk>", *(f"w{i}" for i in range(6))))
    save_decoder(tmp_path / "plain", "sat", plain, vocab, {})
    base, _, _ = load_decoder(tmp_path / "plain")
    assert base.confident is None
    features, word, logits0, alpha0, attended = first_step(base)
    with torch.no_grad():
        surest = attended.max(dim=1).values  # (B, V)
        threshold, gain = float(surest.max()) / 2, 3.0  # some words above it, most below
        ramp = gain * torch.clamp(surest - threshold, min=0) / (1 - threshold)
        extra = {"confident_evidence": {"threshold": threshold, "gain": gain}}
        save_decoder(tmp_path / "sure", "sat", plain, vocab, extra)
        sure, _, _ = load_decoder(tmp_path / "sure")
        logits1, alpha1, _, _, _ = sure.step(word, *sure.start(features))
    assert sure.confident == (threshold, gain)
    assert torch.equal(alpha1, alpha0)  # where it looks is untouched
    assert float(ramp.max()) > 1e-3 and float((ramp == 0).float().sum()) > 0
    assert torch.allclose(logits1 - logits0, ramp, atol=1e-5)
    save_decoder(tmp_path / "bad", "sat", plain, vocab, {"confident_evidence": {"threshold": 1.0, "gain": 3.0}})
    with pytest.raises(ValueError, match="threshold < 1"):
        load_decoder(tmp_path / "bad")


def test_the_confident_evidence_rule_and_the_served_setting() -> None:
    from models.evaluate.confident_evidence_choice import CANDIDATES, SERVED, label

    root = Path(__file__).resolve().parents[1]
    report = json.loads((root / "reports/confident_evidence_choice.json").read_text())
    assert list(report["rows"]) == [SERVED, *(label(t, g) for t, g in CANDIDATES)]
    config = json.loads((root / "models/weights/captioner-sat-cnn/config.json").read_text())
    chosen = report["chosen"]
    if chosen == SERVED:
        assert "confident_evidence" not in config
    else:
        threshold, gain = next((t, g) for t, g in CANDIDATES if label(t, g) == chosen)
        assert config["confident_evidence"] == {"threshold": threshold, "gain": gain}
        best = max(r["score"] for r in report["rows"].values() if r["val_bleu4"] >= 52 and r["val_pointing"] >= 0.86)
        assert report["rows"][chosen]["score"] == best > report["rows"][SERVED]["score"]
