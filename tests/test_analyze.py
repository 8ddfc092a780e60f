"""Corpus head analysis (app.scale): the per-head statistics on hand-built maps, the shard merge, resuming,
and `attnviz analyze` end to end on the shipped MiniLM weights with the plain loop (Ray: test_analyze_ray.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from app.scale import analyze as analyze_module
from app.scale.analyze import AnalysisError, plan, run_analysis
from app.scale.corpus import Corpus, CorpusError, load_corpus
from app.scale.head_stats import STATISTICS, head_distances, head_statistics, is_punct, is_special
from app.scale.shards import STAT_NAMES, analyse_shard, from_bytes, to_bytes
from app.scale.summary import cluster_heads, write_outputs
from models.contract import AttentionStack, InputError, TextAttentionOutput

TOKENS = ("[CLS]", "the", "cat", "sat", ".", "[SEP]")


def stack_of(*heads: np.ndarray) -> np.ndarray:
    """(R, C) maps -> (1, H, R, C)."""
    return np.stack(heads)[None].astype(np.float32)


def test_token_classes() -> None:
    assert [is_special(t) for t in ("[CLS]", "</s>", "<s>", "[SEP]", "cat", "<", "[x]")] == [
        True, True, True, True, False, False, False
    ]  # fmt: skip
    assert [is_punct(t) for t in (".", "\u2581,", "##!", "\u00bf", "cat", "\u2581", "a.")] == [
        True, True, True, True, False, False, False
    ]  # fmt: skip


def test_positional_statistics_on_hand_built_maps() -> None:
    n = len(TOKENS)
    identity = np.eye(n)
    previous = np.eye(n, k=-1)
    previous[0, 0] = 1.0  # row 0 has no previous token: it keeps itself
    uniform = np.full((n, n), 1 / n)
    stats = head_statistics("self", stack_of(identity, previous, uniform), TOKENS, TOKENS)
    assert set(stats) == set(STATISTICS)
    np.testing.assert_allclose(stats["self"][0], [1.0, 1 / n, 1 / n], rtol=1e-6)
    np.testing.assert_allclose(stats["prev"][0], [0.0, 1.0, 1 / n], rtol=1e-6)
    np.testing.assert_allclose(stats["next"][0], [0.0, 0.0, 1 / n], atol=1e-7)
    np.testing.assert_allclose(stats["entropy"][0], [0.0, 0.0, np.log2(n)], atol=1e-6)
    gaps = np.abs(np.arange(n)[:, None] - np.arange(n)[None]).mean()
    np.testing.assert_allclose(stats["distance"][0], [0.0, (n - 1) / n, gaps], rtol=1e-6)
    np.testing.assert_allclose(stats["special"][0], [2 / n, 2 / n, 2 / n], rtol=1e-6)  # [CLS] and [SEP] columns
    np.testing.assert_allclose(stats["punct"][0], [1 / n, 1 / n, 1 / n], rtol=1e-6)  # the "." column
    np.testing.assert_allclose(stats["first"][0], [1 / n, 2 / n, 1 / n], rtol=1e-6)
    assert np.isnan(stats["monotonicity"]).all()  # only for cross-attention


def test_cross_attention_monotonicity_and_square_only_statistics() -> None:
    rows = ("un", "gato", "sentado", "</s>")
    cols = ("a", "cat", "sat", "</s>")
    diagonal, reversed_ = np.eye(4), np.eye(4)[::-1]
    stats = head_statistics("cross", stack_of(diagonal, reversed_), rows, cols)
    np.testing.assert_allclose(stats["monotonicity"][0], [1.0, -1.0])
    assert np.isnan(stats["self"]).all() and np.isnan(stats["distance"]).all()
    with pytest.raises(ValueError, match="do not match"):
        head_statistics("cross", stack_of(diagonal), rows[:3], cols)


def test_head_distances_match_scipy_row_by_row() -> None:
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(0)
    weights = rng.random((2, 3, 5, 7)) ** 4  # peaked rows, some near-zero weights
    weights /= weights.sum(axis=-1, keepdims=True)
    flat = weights.reshape(6, 5, 7)
    expected = np.array([[jensenshannon(a, b, axis=-1, base=2).mean() for b in flat] for a in flat])
    np.testing.assert_allclose(head_distances(weights), expected, atol=1e-7)


def test_head_distances_are_jensen_shannon() -> None:
    a = np.eye(3)
    b = np.roll(np.eye(3), 1, axis=1)  # disjoint supports: distance 1 (base 2)
    d = head_distances(stack_of(a, a, b))
    np.testing.assert_allclose(d, [[0, 0, 1], [0, 0, 1], [1, 1, 0]], atol=1e-7)
    assert cluster_heads(d, 2) in ([1, 1, 2], [2, 2, 1])


class HashModel:
    """A stand-in text model: softmax of logits seeded by the text (one 2-layer, 2-head self stack)."""

    def attend(self, text: str) -> TextAttentionOutput:
        if text == "refuse":
            raise InputError("no")
        tokens = ("[CLS]", *text.split(), "[SEP]")
        generator = torch.Generator().manual_seed(len(text) * 7919 + sum(map(ord, text)))
        logits = torch.randn(2, 2, len(tokens), len(tokens), generator=generator)
        stack = AttentionStack("self", logits.softmax(-1), tokens, tokens)
        return TextAttentionOutput(tokens, None, None, (stack,))


def test_shards_merge_into_summary_and_parquet(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    corpus = Corpus("toy", "toy sentences", ("a b c", "refuse", "the cat sat .", "x y", "one more here"))
    model = HashModel()
    shards = [
        from_bytes(to_bytes(analyse_shard(model, ids, [corpus.sentences[i] for i in ids])))
        for ids in ([0, 1, 2], [3, 4])
    ]
    summary = json.loads(write_outputs("toy-model", corpus, shards, tmp_path).read_text())
    assert summary["skipped"] == [1]
    (kind,) = summary["kinds"]
    assert (kind["kind"], kind["layers"], kind["heads"], kind["sentences"]) == ("self", 2, 2, 4)
    # The corpus mean is the mean of the per-sentence statistics, recomputed here from the maps.
    per_sentence = []
    for s in (corpus.sentences[i] for i in (0, 2, 3, 4)):
        stack = model.attend(s).stacks[0]
        per_sentence.append(head_statistics("self", stack.weights.numpy(), stack.row_tokens, stack.col_tokens))
    np.testing.assert_allclose(kind["means"]["prev"], np.mean([p["prev"] for p in per_sentence], axis=0), atol=1e-4)
    best = int(np.argmax([p["entropy"][1, 0] for p in per_sentence]))
    assert kind["top"][1][0][STAT_NAMES.index("entropy")][0] == [0, 2, 3, 4][best]
    assert len(kind["js_distance"]) == 4 and kind["js_distance"][2][2] == 0.0 and len(kind["clusters"]) == 4
    assert set(summary["texts"]) <= {"0", "2", "3", "4"}
    table = pq.read_table(tmp_path / "heads.parquet")
    assert table.num_rows == 4 * 2 * 2 and table.column_names[:4] == ["sentence", "kind", "layer", "head"]
    assert "aer" not in summary["statistics"]  # no reference links: no AER
    # AER (a corpus figure from models.evaluate.reference_aer) lands only on cross-attention kinds
    again = json.loads(write_outputs("toy-model", corpus, shards, tmp_path, cross_aer=[[0.5, 0.6]]).read_text())
    assert "aer" in again["statistics"] and "aer" not in again["kinds"][0]["means"]


def test_load_corpus(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("First one.\n\n  Second one.  \nThird.\n", encoding="utf-8")
    corpus = load_corpus(str(path), limit=2)
    assert (corpus.name, corpus.sentences) == ("lines", ("First one.", "Second one."))
    with pytest.raises(CorpusError, match="neither a file"):
        load_corpus(str(tmp_path / "missing.txt"))
    path.write_bytes(b"\xff\xfe bad")
    with pytest.raises(CorpusError, match="UTF-8"):
        load_corpus(str(path))
    path.write_text("x" * 2001, encoding="utf-8")
    with pytest.raises(CorpusError, match="over 2000"):
        load_corpus(str(path))


def test_plan_refuses_a_folder_of_another_analysis(tmp_path: Path) -> None:
    corpus = Corpus("toy", "toy", ("a", "b", "c"))
    first = plan("minilm-l6", corpus, tmp_path, shard_size=2)
    assert [ids for _, ids in first.shards] == [[0, 1], [2]] and first.todo == [0, 1]
    with pytest.raises(AnalysisError, match="another analysis"):
        plan("minilm-l6", Corpus("toy", "toy", ("a", "b", "d")), tmp_path, shard_size=2)


def test_plain_run_resumes_from_finished_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = Corpus("four", "four sentences", ("The cat sat.", "A dog ran home.", "Birds sing, loudly!", "Yes."))
    calls: list[list[int]] = []
    real = analyze_module.analyse_shard

    def counting(model, ids, texts):  # type: ignore[no-untyped-def]
        calls.append(list(ids))
        return real(model, ids, texts)

    monkeypatch.setattr(analyze_module, "analyse_shard", counting)
    out = tmp_path / "run"
    first = json.loads(run_analysis("minilm-l6", corpus, out, shard_size=2, use_ray=False, progress=False).read_text())
    assert calls == [[0, 1], [2, 3]]
    (kind,) = first["kinds"]
    assert (kind["kind"], kind["layers"], kind["heads"], kind["sentences"]) == ("self", 6, 12, 4)
    special = np.array(kind["means"]["special"], dtype=float)
    assert ((special >= 0) & (special <= 1)).all()
    (out / "shards" / "shard-00001.npz").unlink()
    calls.clear()
    again = json.loads(run_analysis("minilm-l6", corpus, out, shard_size=2, use_ray=False, progress=False).read_text())
    assert calls == [[2, 3]]  # the finished shard was not recomputed
    assert {k: v for k, v in again.items() if k != "created"} == {k: v for k, v in first.items() if k != "created"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "no-such-model", "--corpus", "CORPUS"], "no model 'no-such-model'"),
        (["--model", "dinov2-s14", "--corpus", "CORPUS"], "does not take text"),
        (["--model", "minilm-l6", "--corpus", "/no/such/file.txt"], "neither a file"),
        (["--model", "minilm-l6", "--corpus", "CORPUS", "--workers", "0"], "at least 1"),
    ],
)
def test_cli_usage_errors(args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("The cat sat.\n", encoding="utf-8")
    argv = ["analyze", *[str(corpus) if a == "CORPUS" else a for a in args], "--no-ray", "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_serve_replicas_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--ray", "--replicas", "0"])
    assert exit_info.value.code == 2
    assert "--replicas must be at least 1" in capsys.readouterr().err


def test_reference_aer_per_head_matches_the_head_study(tmp_path: Path) -> None:
    """bible-test corpora get each cross-attention head's AER against the reference links (shipped
    transformer-en-es weights, a hand-made 4-verse split); it equals models.evaluate.heads' readouts, computed
    through their own forced pass; other corpora and models without cross-attention get none."""
    from models.evaluate.heads import readout_aer, transformer_readouts
    from models.evaluate.reference_aer import reference_aer
    from models.evaluate.runs import forced_word_attention
    from models.evaluate.verses import load_verses

    weights = Path(__file__).resolve().parents[1] / "models" / "weights"
    pairs = [("we are eating bread", "estamos comiendo pan", [(2, 1), (3, 2)]),
             ("the cat is sleeping", "el gato duerme", [(0, 0), (1, 1), (3, 2)]),
             ("open the file", "abra el archivo", [(0, 0), (1, 1), (2, 2)]),
             ("where is the station ?", "¿ dónde está la estación ?", [(0, 1), (1, 2), (3, 4), (4, 5)])]  # fmt: skip
    rows = [{"ref": f"X 1:{k}", "en": en, "es": es} for k, (en, es, _) in enumerate(pairs)]
    strongs = [{"ref": r["ref"], "en_words": r["en"].split(), "es_words": r["es"].split(), "links": links}
               for r, (_, _, links) in zip(rows, pairs, strict=True)]  # fmt: skip
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test_strongs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in strongs))
    corpus = Corpus("bible-test", "four verses", tuple(r["en"] for r in rows))

    aer = reference_aer("transformer-en-es", corpus, data_dir=tmp_path, weights_dir=weights)
    assert aer is not None and len(aer) == 3 and all(len(row) == 4 for row in aer)
    sp, forced, names, ids = transformer_readouts(weights / "transformer-en-es")
    verses = load_verses(tmp_path, "test")
    expected = readout_aer(verses, forced_word_attention(sp, verses, forced, *ids), names)
    for layer in range(3):
        for head in range(4):
            assert aer[layer][head] == pytest.approx(expected[f"layer {layer} head {head}"]["aer"], abs=1e-4)
    assert 0.0 <= min(min(r) for r in aer) <= max(max(r) for r in aer) <= 1.0

    rnn = reference_aer("rnn-additive-en-es", corpus, data_dir=tmp_path, weights_dir=weights)
    assert rnn is not None and len(rnn) == 1 and len(rnn[0]) == 1
    assert reference_aer("rnn-none-en-es", corpus, data_dir=tmp_path, weights_dir=weights) is None
    assert reference_aer("transformer-en-es", Corpus("mine", "x", corpus.sentences), tmp_path, weights) is None


def test_the_installed_command_hands_in_the_reference_aer(monkeypatch: pytest.MonkeyPatch) -> None:
    """attnviz/cli.py (the `attnviz` entry point) passes models.evaluate's AER to app.cli, which app.scale
    cannot import itself (layer order)."""
    import attnviz.cli
    from app import cli
    from models.evaluate.reference_aer import reference_aer

    seen: dict[str, object] = {}
    monkeypatch.setattr(cli, "main", lambda argv=None, cross_aer=None: seen.update(argv=argv, cross_aer=cross_aer))
    attnviz.cli.main(["analyze", "--help"])
    assert seen == {"argv": ["analyze", "--help"], "cross_aer": reference_aer}
