"""The training scripts end to end on a tiny synthetic corpus: a few steps, checkpoint, resume, export."""

import io
import json
from pathlib import Path

import pytest
import sentencepiece as spm

from models.train import rnn as train_rnn
from models.train import transformer as train_transformer

PAIRS = [
    ("we are eating bread", "estamos comiendo pan"),
    ("the bread is good", "el pan es bueno"),
    ("we are here", "estamos aqui"),
    ("they eat good bread", "ellos comen buen pan"),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    model = io.BytesIO()
    texts = [t for pair in PAIRS for t in pair] * 10
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=30,
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        character_coverage=1.0,
    )
    (folder / "spm.model").write_bytes(model.getvalue())
    for split, repeat in (("train", 8), ("dev", 1), ("test", 1)):
        rows = [{"ref": f"X {i}", "en": en, "es": es} for i, (en, es) in enumerate(PAIRS * repeat)]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def common(data: Path, tmp: Path) -> list[str]:
    return [
        "--data",
        str(data),
        "--weights-dir",
        str(tmp / "weights"),
        "--checkpoint-dir",
        str(tmp / "ckpt"),
        "--batch-tokens",
        "64",
        "--eval-limit",
        "2",
    ]


def test_rnn_trainer_stops_resumes_and_exports(data: Path, tmp_path: Path) -> None:
    tiny = ["--emb-dim", "16", "--enc-hidden", "8", "--dec-hidden", "16", "--attn-dim", "8", "--beam", "2"]
    args = [*common(data, tmp_path), *tiny, "--attention", "additive", "--minutes", "inf", "--max-steps", "4"]
    train_rnn.main([*args, "--stop-at-step", "2"])
    assert (tmp_path / "ckpt" / "rnn-additive-en-es" / "last.pt").exists()
    assert not (tmp_path / "weights" / "rnn-additive-en-es").exists()
    train_rnn.main([*args, "--resume"])
    out = tmp_path / "weights" / "rnn-additive-en-es"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and "bleu" in metrics["test_greedy"] and "test_beam2" in metrics
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.json", "spm.model", "README.md"}


def test_transformer_trainer_exports(data: Path, tmp_path: Path) -> None:
    tiny = [
        "--d-model",
        "16",
        "--n-heads",
        "2",
        "--encoder-layers",
        "1",
        "--decoder-layers",
        "1",
        "--d-ffn",
        "32",
        "--warmup",
        "2",
    ]
    train_transformer.main([*common(data, tmp_path), *tiny, "--max-steps", "3"])
    out = tmp_path / "weights" / "transformer-en-es"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 3 and "bleu" in metrics["test_greedy"]
    assert (out / "spm.model").exists() and (out / "README.md").read_text().startswith("# transformer-en-es")


def test_trained_transformer_serves_every_kind_with_a_causal_mask(data: Path, tmp_path: Path) -> None:
    from models.serve.transformer import TransformerTranslator

    tiny = ["--d-model", "16", "--n-heads", "2", "--encoder-layers", "1", "--decoder-layers", "2", "--d-ffn", "32"]
    train_transformer.main([*common(data, tmp_path), *tiny, "--max-steps", "2"])
    out = TransformerTranslator.from_folder(tmp_path / "weights" / "transformer-en-es").attend("we are eating bread")
    kinds = {s.kind: s for s in out.stacks}
    T = len(out.output_tokens or ())
    assert set(kinds) == {"encoder_self", "decoder_self", "cross"} and T >= 1
    assert kinds["decoder_self"].weights.shape == (2, 2, T, T)
    assert bool((kinds["decoder_self"].weights.triu(diagonal=1) == 0).all())  # exact zeros above the diagonal
    assert kinds["decoder_self"].col_tokens[0] == "<s>"


def test_export_scores_every_test_set(data: Path, tmp_path: Path) -> None:
    extra = tmp_path / "everyday.jsonl"
    extra.write_text("".join(json.dumps({"en": en, "es": es}) + "\n" for en, es in PAIRS[:3]))
    tiny = ["--d-model", "16", "--n-heads", "2", "--encoder-layers", "1", "--decoder-layers", "1", "--d-ffn", "32"]
    args = [*common(data, tmp_path), *tiny, "--max-steps", "2", "--test-sets", "test=test.jsonl", f"everyday={extra}"]
    train_transformer.main(args)
    metrics = json.loads((tmp_path / "weights" / "transformer-en-es" / "metrics.json").read_text())
    assert "bleu" in metrics["test_greedy"] and "chrf" in metrics["everyday_greedy"]
    with pytest.raises(FileNotFoundError, match="nowhere.jsonl"):  # before any training step
        train_transformer.main([*args[:-1], "everyday=nowhere.jsonl"])
    with pytest.raises(ValueError, match="NAME=FILE"):
        train_transformer.main([*args[:-1], "test=other.jsonl"])


def test_attention_lr_scale_puts_the_score_in_its_own_group_and_cards_name_the_data(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--attention-lr-scale 0.1: the score function's parameters step at a tenth of the learning rate; the card
    and metrics.json say which data and device the model was trained on, and every scored test set."""
    import torch

    seen: list[list[tuple[int, float]]] = []
    original = torch.optim.Adam.step

    def spy(self: torch.optim.Adam, *a: object, **k: object) -> object:
        seen.append([(len(g["params"]), g["lr"]) for g in self.param_groups])
        return original(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    tiny = ["--emb-dim", "16", "--enc-hidden", "8", "--dec-hidden", "16", "--attn-dim", "8", "--beam", "1"]
    args = [
        *common(data, tmp_path),
        *tiny,
        "--attention",
        "general",
        "--general-scaled",
        "true",
        "--attention-lr-scale",
        "0.1",
        "--minutes",
        "inf",
        "--max-steps",
        "2",
        "--lr",
        "0.01",
    ]
    train_rnn.main(args)
    (others, lr), (scored, lr_scored) = seen[0]
    assert scored == 1 and others > 1  # the general score has one parameter, W
    assert lr_scored == pytest.approx(lr * 0.1)
    out = tmp_path / "weights" / "rnn-general-en-es"
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["general_scaled"] is True and metrics["protocol"]["attention_lr_scale"] == 0.1
    assert metrics["device"] == "cpu" and metrics["data"] == data.name
    card = (out / "README.md").read_text()
    assert "divided by sqrt(d_k)" in card and "Bible test (held-out chapters), greedy: BLEU" in card


@pytest.mark.parametrize("trainer", ["rnn", "transformer"])
def test_resumed_training_equals_uninterrupted(data: Path, tmp_path: Path, trainer: str) -> None:
    """Stopping at step 2 and resuming to step 5 gives the same weights, optimiser state and history steps as
    training straight to 5 (seeded batches, dropout RNG state kept in the checkpoint)."""
    import torch

    if trainer == "rnn":
        tiny = ["--emb-dim", "16", "--enc-hidden", "8", "--dec-hidden", "16", "--attn-dim", "8", "--beam", "1",
                "--attention", "additive", "--minutes", "inf"]  # fmt: skip
        run, model_id = train_rnn.main, "rnn-additive-en-es"
    else:
        tiny = ["--d-model", "16", "--n-heads", "2", "--encoder-layers", "1", "--decoder-layers", "1", "--d-ffn", "32"]
        run, model_id = train_transformer.main, "transformer-en-es"
    straight, split = tmp_path / "straight", tmp_path / "split"
    run([*common(data, straight), *tiny, "--max-steps", "5"])
    if trainer == "rnn":
        run([*common(data, split), *tiny, "--max-steps", "5", "--stop-at-step", "2"])
    else:  # the Transformer trainer has no --stop-at-step: a 2-step budget, then the budget raised to 5
        run([*common(data, split), *tiny, "--max-steps", "2"])
    run([*common(data, split), *tiny, "--max-steps", "5", "--resume"])
    a = torch.load(straight / "ckpt" / model_id / "last.pt", weights_only=False)
    b = torch.load(split / "ckpt" / model_id / "last.pt", weights_only=False)
    assert a["state"]["step"] == b["state"]["step"] == 5
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for k, state in a["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg"], b["optimizer"]["state"][k]["exp_avg"]), k


def test_second_stage_starts_from_the_first_and_the_card_says_so(data: Path, tmp_path: Path) -> None:
    """--init-from: training resumes from an exported folder's weights (step 0 of the new stage equals them), the
    schedule offset continues the Transformer's warm-up curve, and metrics.json and the card name both stages;
    a folder of another config is refused before any step."""
    import torch

    from models.nets.transformer import Transformer, warmup_lr
    from models.train import loop

    tiny = ["--d-model", "16", "--n-heads", "2", "--encoder-layers", "1", "--decoder-layers", "1", "--d-ffn", "32"]
    first_dir = tmp_path / "first"
    train_transformer.main([*common(data, first_dir), *tiny, "--max-steps", "3"])
    first = first_dir / "weights" / "transformer-en-es"
    second_dir = tmp_path / "second"
    args = [*common(data, second_dir), *tiny, "--max-steps", "2", "--init-from", str(first)]
    # zero learning rate: the second stage's export must be the first stage's weights, exactly
    train_transformer.main([*args, "--lr-factor", "0"])
    a, b = Transformer.from_pretrained(first), Transformer.from_pretrained(second_dir / "weights" / first.name)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    metrics = json.loads((second_dir / "weights" / first.name / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["init"]["steps"] == 3 and metrics["init"]["folder"] == str(first)
    card = (second_dir / "weights" / first.name / "README.md").read_text()
    assert "3 steps" in card and "then a second stage from those weights: 2 steps" in card
    parsed = train_transformer.parse_args([*args, "--schedule-offset", "100"])
    assert parsed.schedule_offset == 100 and warmup_lr(101, 16, 800) < warmup_lr(800, 16, 800)
    with pytest.raises(ValueError, match="differs"):
        other = [*common(data, tmp_path / "third"), *tiny[:-1], "48", "--max-steps", "1", "--init-from", str(first)]
        train_transformer.main(other)
    assert "then a second stage" not in loop.trained_on(json.loads((first / "metrics.json").read_text()))


def test_second_stage_ships_per_family_on_mean_dev_bleu(tmp_path: Path) -> None:
    from models.evaluate import second_stage

    def write(root: Path, model_id: str, bleu: float) -> None:
        (root / model_id).mkdir(parents=True, exist_ok=True)
        metrics = {"dev_greedy": {"bleu": bleu, "chrf": 50.0}, "best_dev_loss": 2.0, "steps": 10}
        (root / model_id / "metrics.json").write_text(json.dumps(metrics))

    rnns, transformer = second_stage.FAMILIES["rnn"], second_stage.FAMILIES["transformer"]
    for i, model_id in enumerate(rnns):  # the mean rises although one model falls
        write(tmp_path / "a", model_id, 20.0)
        write(tmp_path / "b", model_id, 19.0 if i == 0 else 21.0)
    write(tmp_path / "a", transformer[0], 30.0)
    write(tmp_path / "b", transformer[0], 30.0)  # equal is not better
    report = second_stage.decide(tmp_path / "a", tmp_path / "b")
    assert report["rnn"]["ship_second_stage"] and not report["transformer"]["ship_second_stage"]
    assert report["rnn"]["mean_dev_bleu"] == {"first": 20.0, "second": round((19 + 6 * 21) / 7, 2)}
    assert "does not ship" in second_stage.markdown(report, "cmd")
