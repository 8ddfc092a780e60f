"""models/evaluate/ (subword -> word merge, AER, length buckets, cached runs, head study, the report),
the report routes and the /eval page in headless Chromium."""

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from app.core.config import Settings
from app.main import create_app
from models.evaluate.alignment import argmax_links, corpus_aer, grow_diag_final_and, merge_pieces, piece_words
from models.evaluate.lengths import bleu_by_length, length_bucket
from models.evaluate.runs import cached_run, forced_word_attention
from models.evaluate.translation import evaluate_model, markdown
from models.evaluate.verses import TestVerse as Verse  # not collected as a test class
from models.nets.seq2seq_rnn import Seq2SeqConfig, Seq2SeqRNN
from models.readouts import word_groups
from tests.conftest import serve

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("rnn-additive-en-es", "rnn-none-en-es", "rnn-<b>dot</b>-en-es", "transformer-en-es")


def fake_report() -> dict[str, Any]:
    """A report shaped like build_report's, with one model id that must stay literal text."""
    by_length = {"1-10": 20.5, "11-20": 15.25, "21-30": 11.0, "31+": 8.75}
    alignment = {"aer": 0.612, "precision": 0.5, "recall": 0.3}
    models: dict[str, Any] = {
        "rnn-additive-en-es": {"bleu": 14.2, "chrf": 40.1, "bleu_by_length": by_length, "aer": 0.612,
                               "beam5": {"bleu": 15.0, "chrf": 41.0}, "alignment": alignment},
        "rnn-none-en-es": {"bleu": 6.1, "chrf": 30.0, "bleu_by_length": {**by_length, "31+": 2.0}, "aer": None},
        "rnn-<b>dot</b>-en-es": {"bleu": 12.0, "chrf": 38.0, "bleu_by_length": by_length, "aer": 0.7},
        "transformer-en-es": {"bleu": 16.0, "chrf": 42.0, "bleu_by_length": by_length, "aer": 0.8,
                              "alignment": alignment, "heads": {
            "best_head": {"readout": "layer 1 head 2", "dev_aer": 0.6, "aer": 0.65, "precision": 0.4, "recall": 0.3},
            "best_layer_mean": {"readout": "layer 1 mean", "dev_aer": 0.7, "aer": 0.7, "precision": 0.4,
                                "recall": 0.3},
            "oracle_head": {"readout": "layer 1 head 2", "aer": 0.65},
            "readouts": {"layer 1 head 2": {"dev_aer": 0.6, "test_aer": 0.65}},
        }},
    }  # fmt: skip
    return {
        "splits": {
            "train": 100,
            "dev": 10,
            "test": 12,
            "test_by_length": {"1-10": 3, "11-20": 4, "21-30": 3, "31+": 2},
        },
        "reference_links": {
            "links": 40,
            "spanish_words_scored": 20,
            "english_words_scored": 18,
            "max_recall_one_link_per_spanish_word": 0.5,
        },  # fmt: skip
        "models": models,
        "eflomal": {
            "aer": 0.55,
            "directions": {
                name: {"aer": aer, "precision": 0.6, "recall": 0.4}
                for name, aer in [
                    ("forward", 0.55),
                    ("reverse", 0.57),
                    ("intersection", 0.6),
                    ("grow-diag-final-and", 0.52),
                ]
            },  # fmt: skip
        },
        "protocol": {"aer": "1 - 2|A&S|/(|A|+|S|) <script>alert(1)</script>"},
        "notes": ["a note"],
        "runtime_seconds": 1.5,
    }


# ---------------------------------------------------------------------------- subwords -> words
@pytest.mark.parametrize(
    ("pieces", "words", "labels"),
    [
        (("▁¿", "Qué", "▁es", "▁esto", "?", "▁¡", "V", "e", "te", "!"), [0, 0, 1, 2, 2, 3, 3, 3, 3, 3],
         ("¿Qué", "es", "esto?", "¡Vete!")),
        (("▁", "¿", "Dónde", "▁está", "?"), [0, 0, 0, 1, 1], ("¿Dónde", "está?")),  # a leading "▁" alone
        (("▁En", "▁", "1909", ",", "▁", "12", ":", "34", "▁años"), [0, 1, 1, 1, 2, 2, 2, 2, 3],
         ("En", "1909,", "12:34", "años")),
        (("▁earth", ".", "▁(", "God", ")"), [0, 0, 1, 1, 1], ("earth.", "(God)")),
        (("ing", "▁the"), [0, 1], ("ing", "the")),  # a first piece without "▁" still opens word 0
    ],
)  # fmt: skip
def test_piece_words_are_whitespace_words(pieces: tuple[str, ...], words: list[int], labels: tuple[str, ...]) -> None:
    assert piece_words(pieces) == words
    assert word_groups(pieces, punctuation="attach")[1] == labels


def test_one_merge_rule_two_punctuation_modes() -> None:
    pieces = ("▁¿", "Qué", "▁es", "▁la", "▁tierra", ".", "▁", "12", ":", "34", "?")
    # the API's word-level maps give a piece that opens with punctuation its own word; the evaluation attaches it
    assert word_groups(pieces)[1] == ("¿Qué", "es", "la", "tierra", ".", "12", ":34", "?")
    assert word_groups(pieces, punctuation="attach")[1] == ("¿Qué", "es", "la", "tierra.", "12:34?")
    # special tokens are words of their own in both modes, and so is the piece after one
    special = ("<s>", "ing", "▁la", "</s>", "s", "<unk:x>")
    for groups in (word_groups(special), word_groups(special, punctuation="attach")):
        assert groups[0] == [[0], [1], [2], [3], [4], [5]]
    # WordPiece pieces do not record whitespace: the mode does not apply
    assert word_groups(("[CLS]", "un", "##able", ".", "[SEP]"))[1] == ("[CLS]", "unable", ".", "[SEP]")


def test_shipped_sentencepiece_words_are_whitespace_words() -> None:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(ROOT / "models/weights/rnn-additive-en-es/spm.model"))
    texts = ["¿Qué es esto? ¡Vete!", "  ¿Dónde  está?", "En 1909, 12:34 años…", "«Jehová» dijo: —Ve.",
             "The earth. (God) said, “Let there be light.”", "x <s> y </s> z", "ﬁn ½"]  # fmt: skip
    for text in texts:
        pieces = sp.encode(text, out_type=str)  # unknown characters come back as themselves, NFKC-normalised
        assert word_groups(tuple(pieces), punctuation="attach")[1] == tuple(unicodedata.normalize("NFKC", text).split())
        assert max(piece_words(pieces)) + 1 == len(text.split())


# ---------------------------------------------------------------------------- metrics
def test_aer_on_a_hand_made_example() -> None:
    sure = {(0, 0), (1, 1), (2, 1)}  # English 0-2 and Spanish 0-1 carry links
    # (0, 0) right, (0, 1) wrong, (3, 2) dropped: English 3 and Spanish 2 have no reference link
    counts = corpus_aer([{(0, 0), (0, 1), (3, 2)}], [sure])
    assert (counts.matched, counts.predicted, counts.reference) == (1, 2, 3)
    assert counts.aer == pytest.approx(1 - 2 * 1 / (2 + 3))
    assert corpus_aer([set(sure)], [sure]).aer == 0.0
    # corpus level: counts are summed over verses before the ratio
    two = corpus_aer([{(0, 0)}, {(0, 0), (1, 1)}], [{(0, 0), (1, 0)}, {(1, 1)}])
    assert (two.matched, two.predicted, two.reference) == (2, 2, 3)
    assert two.aer == pytest.approx(1 - 4 / 5)


def test_length_buckets() -> None:
    assert [length_bucket(n) for n in (1, 10, 11, 20, 21, 30, 31, 200)] == [
        "1-10", "1-10", "11-20", "11-20", "21-30", "21-30", "31+", "31+",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        length_bucket(0)
    sources = ["a b c", " ".join(["w"] * 15)]
    refs = ["el gato se sentó en la alfombra", "la casa es muy grande y muy vieja"]
    scores = bleu_by_length(refs, refs, sources)
    assert scores == {"1-10": 100.0, "11-20": 100.0, "21-30": None, "31+": None}


def test_subwords_merge_into_whitespace_words() -> None:
    pieces = ["▁The", "▁bri", "ck", "s", ",", "▁“", "Come", "."]
    assert piece_words(pieces) == [0, 1, 1, 1, 1, 2, 2, 2]
    # rows: target pieces [w0, w1, w1, EOS]; columns: source pieces [w0, w0, w1, EOS]
    weights = np.array(
        [
            [0.1, 0.2, 0.6, 0.1],
            [0.5, 0.3, 0.1, 0.1],
            [0.1, 0.1, 0.7, 0.1],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    merged = merge_pieces(weights, [0, 1, 1, -1], [0, 0, 1, -1])
    # summed over a source word's pieces, averaged over a target word's pieces, EOS dropped
    np.testing.assert_allclose(merged, [[0.3, 0.6], [(0.8 + 0.2) / 2, (0.1 + 0.7) / 2]])
    assert argmax_links(merged) == {(1, 0), (0, 1)}  # (English i, Spanish j)


def test_grow_diag_final_and() -> None:
    fwd = {(0, 0), (1, 1), (3, 4)}
    rev = {(0, 0), (1, 1), (1, 2), (4, 4)}
    # grow: (1, 2) neighbours (1, 1) and Spanish 2 is free. final-and adds a directional link only
    # while both its words are unaligned: (3, 4) comes first, then (4, 4) finds Spanish 4 taken
    assert grow_diag_final_and(fwd, rev) == {(0, 0), (1, 1), (1, 2), (3, 4)}


# ---------------------------------------------------------------------------- a tiny model end to end
@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer-free Seq2SeqRNN and a tiny SentencePiece model, saved like an export."""
    import sentencepiece as spm

    folder = tmp_path_factory.mktemp("weights") / "rnn-additive-en-es"
    folder.mkdir()
    texts = ["In the beginning God created the heavens and the earth.", "En el principio crió Dios los cielos."] * 20
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(folder / "spm"), vocab_size=40, model_type="unigram",
        pad_id=0, unk_id=1, bos_id=2, eos_id=3, minloglevel=2, hard_vocab_limit=False,
    )  # fmt: skip
    torch.manual_seed(0)
    config = Seq2SeqConfig(vocab_size=40, emb_dim=16, enc_hidden=8, dec_hidden=16, attn_dim=8, attention="additive")
    Seq2SeqRNN(config).save_pretrained(folder)
    return folder


def test_rnn_run_gives_word_level_attention_and_is_cached(tiny_folder: Path, tmp_path: Path) -> None:
    verses = [
        Verse("Gen 1:1", "In the beginning, God created", "En el principio crió Dios", frozenset({(2, 2)})),
        Verse("Gen 1:2", "the earth.", "los cielos.", frozenset({(1, 1)})),
    ]
    run = cached_run(tiny_folder.name, tiny_folder, verses, tmp_path, "data-sha")
    assert len(run.hyps) == 2 and all(isinstance(h, str) for h in run.hyps)
    assert run.attention is not None
    assert [a.shape for a in run.attention] == [(5, 5), (2, 2)]  # (Spanish words, English words)
    for a in run.attention:
        assert np.all(a >= 0) and np.all(a.sum(axis=1) <= 1 + 1e-6)  # EOS mass dropped
    assert len(list(tmp_path.glob("rnn-additive-en-es-*.npz"))) == 1
    again = cached_run(tiny_folder.name, tiny_folder, verses, tmp_path, "data-sha")
    assert again.hyps == run.hyps and again.attention is not None
    for a, b in zip(again.attention, run.attention, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    result = evaluate_model(tiny_folder.name, tiny_folder, verses, run)
    assert set(result) >= {"bleu", "chrf", "bleu_by_length", "aer"} and 0.0 <= result["aer"] <= 1.0


def test_transformer_heads_are_chosen_on_dev_and_scored_on_test(tiny_folder: Path, tmp_path: Path) -> None:
    from models.evaluate.heads import head_study, transformer_readouts
    from models.nets.transformer import Transformer, TransformerConfig

    folder = tmp_path / "transformer-en-es"
    torch.manual_seed(0)
    Transformer(TransformerConfig(vocab_size=40, d_model=16, n_heads=2, encoder_layers=1, decoder_layers=2,
                                  d_ffn=32)).save_pretrained(folder)  # fmt: skip
    (folder / "spm.model").write_bytes((tiny_folder / "spm.model").read_bytes())
    dev = [Verse("Gen 1:3", "God created the earth", "crió Dios la tierra", frozenset({(0, 1), (3, 3)}))]
    test = [Verse("Gen 1:1", "In the beginning, God created", "En el principio crió Dios", frozenset({(2, 2)}))]
    sp, forced, names, ids = transformer_readouts(folder)
    assert names == ["layer 0 head 0", "layer 0 head 1", "layer 1 head 0", "layer 1 head 1", "layer 0 mean",
                     "layer 1 mean"]  # fmt: skip
    (words,) = forced_word_attention(sp, test, forced, *ids)
    assert words.shape == (6, 5, 5)  # (readout, Spanish words, English words)
    np.testing.assert_allclose(words[4], words[:2].mean(axis=0), atol=1e-6)  # merging is linear
    run = cached_run(folder.name, folder, test, tmp_path / "cache", "data-sha")  # greedy + heads averaged
    assert len(run.hyps) == 1 and run.attention is not None and run.attention[0].shape == (5, 5)
    np.testing.assert_allclose(run.attention[0], words[5], atol=1e-6)  # "layer 1 mean": the last layer, heads averaged
    study = head_study(folder, dev, test, tmp_path / "cache", "links-sha")
    dev_aer = {n: r["dev_aer"] for n, r in study["readouts"].items() if " head " in n}
    assert study["best_head"]["readout"] == min(dev_aer, key=lambda n: (dev_aer[n], n))
    assert study["best_head"]["aer"] == study["readouts"][study["best_head"]["readout"]]["test_aer"]
    assert study["best_layer_mean"]["readout"].endswith("mean")
    assert study["oracle_head"]["aer"] == min(r["test_aer"] for n, r in study["readouts"].items() if " head " in n)
    assert head_study(folder, dev, test, tmp_path / "cache", "links-sha") == study  # from the cache
    assert len(list((tmp_path / "cache").glob("heads-transformer-en-es-*.json"))) == 1
    report = fake_report()
    report["models"]["transformer-en-es"] = {"bleu": 9.0, "chrf": 30.0, "bleu_by_length": report["models"][
        "rnn-additive-en-es"]["bleu_by_length"], "aer": 0.5, "alignment": {"aer": 0.5, "precision": 0.5,
        "recall": 0.5}, "heads": study}  # fmt: skip
    text = markdown(report)
    assert f"| transformer-en-es | 9.00 | 30.00 | – | 0.500 | {study['best_head']['aer']:.3f} |" in text
    assert f"| transformer-en-es best head: {study['best_head']['readout']} (dev AER" in text
    assert "| layer 1 head 1 |" in text and "Test-chosen head (an upper bound" in text


def test_markdown_summary_has_every_model() -> None:
    text = markdown(fake_report())
    for model_id in MODELS:
        assert f"| {model_id} |" in text
    assert "| rnn-none-en-es | 6.10 | 30.00 | – | – | – |" in text
    assert "eflomal forward | 0.550" in text


# ---------------------------------------------------------------------------- routes
@pytest.fixture
def reports_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(reports_dir=tmp_path))) as c:
        yield c


def test_report_routes_404_before_make_eval(reports_client: TestClient) -> None:
    for name in ("translation", "captions"):
        r = reports_client.get(f"/api/reports/{name}")
        assert r.status_code == 404
        assert "make eval" in r.json()["detail"]


def test_report_routes_serve_the_files(reports_client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "translation_eval.json").write_text(json.dumps(fake_report()))
    (tmp_path / "caption_eval.json").write_text(json.dumps({"models": {"captioner-sat": {"bleu4": 50.0}}}))
    r = reports_client.get("/api/reports/translation")
    assert r.status_code == 200
    assert r.json()["models"]["rnn-additive-en-es"]["bleu"] == 14.2
    assert reports_client.get("/api/reports/captions").json()["models"]["captioner-sat"]["bleu4"] == 50.0
    (tmp_path / "translation_eval.json").write_text("{not json")
    r = reports_client.get("/api/reports/translation")
    assert r.status_code == 500 and "make eval" in r.json()["detail"]


# ---------------------------------------------------------------------------- page
@pytest.fixture(scope="module")
def eval_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("reports")
    (folder / "translation_eval.json").write_text(json.dumps(fake_report()))
    (folder / "real_photo_eval.json").write_text(json.dumps(REAL_PHOTOS))
    (folder / "gallery.json").write_text(json.dumps(GALLERY))
    with serve(create_app(Settings(reports_dir=folder))) as url:
        yield url


REAL_PHOTOS = {  # the shape models/evaluate/real_photos.py writes
    "targets": {"named": 0.6, "pointing": 0.7},
    "command": "python -m models.evaluate.real_photos",
    "splits": {
        "eval": {
            "photos": 35,
            "in_vocabulary": 33,
            "models": {
                "captioner-<i>sat</i>": {
                    "photos": 33,
                    "named": 4,
                    "named_share": 0.1212,
                    "pointed": 3,
                    "pointing": 0.75,
                }
            },
            "classifier": {"photos": 33, "named": 23, "named_share": 0.697},
            "prototype_probe": {"photos": 33, "named": 3, "named_share": 0.0909},
        }
    },
}


GALLERY = {  # the shape models/evaluate/gallery.py writes
    "captioner": "captioner-sat-cnn",
    "command": "python -m models.evaluate.gallery",
    "photos": [
        {"id": "chelsea", "title": "Chelsea", "expect": "cat", "in_vocabulary": True, "caption": "a cat",
         "named": True, "offered": True},
        {"id": "coffee", "title": "<b>Coffee</b>", "expect": "cup", "in_vocabulary": True, "caption": "a trophy",
         "named": False, "offered": False},
        {"id": "china", "title": "China", "expect": "building", "in_vocabulary": False, "caption": "a house",
         "named": False, "offered": True},
    ],
    "scenes": {"offered": [46, 68], "passed_over": [], "sha256": "0" * 64},
}


@pytest.mark.browser
def test_eval_page_draws_the_report(eval_server: str, page: Page) -> None:
    page.goto(eval_server + "/eval")
    expect(page.locator("#eval-status")).to_have_text("4 models evaluated (written in 1.5 s).", timeout=30_000)
    rows = page.locator("#scores-table tbody tr")
    expect(rows).to_have_count(4)
    assert rows.nth(0).locator("td").all_text_contents() == ["14.20", "40.10", "15.00", "0.612", "–"]
    assert rows.nth(1).locator("td").all_text_contents() == ["6.10", "30.00", "–", "–", "–"]
    assert rows.nth(3).locator("td").all_text_contents() == ["16.00", "42.00", "–", "0.800", "0.650"]
    expect(rows.nth(2).locator("th")).to_have_text("rnn-<b>dot</b>-en-es")  # literal text, never markup
    expect(page.locator("#length-plot .barlayer .trace")).to_have_count(4)
    legend = page.locator("#length-plot .legendtext").all_text_contents()
    assert legend == list(MODELS)
    # three attention models have an AER, the Transformer twice (heads averaged, dev-chosen best head);
    # eflomal forward and grow-diag-final-and stand beside them
    expect(page.locator("#aer-plot")).to_have_attribute("data-bars", "6")
    ticks = page.locator("#aer-plot .xtick text").all_text_contents()
    assert ticks == [
        "rnn-additive-en-es attention", "rnn-<b>dot</b>-en-es attention", "transformer-en-es heads averaged",
        "transformer-en-es best head (layer 1 head 2)", "eflomal forward", "eflomal grow-diag-final-and",
    ]  # fmt: skip
    expect(page.locator("#aer-note")).to_contain_text("recall is at most 0.500")
    expect(page.locator("#protocol dd")).to_have_text("1 - 2|A&S|/(|A|+|S|) <script>alert(1)</script>")
    expect(page.locator("nav a[aria-current='page']")).to_have_text("Evaluation")
    photos = page.locator("#real-photos-table tbody tr")
    expect(photos).to_have_count(3)
    expect(photos.nth(0).locator("th")).to_have_text("captioner-<i>sat</i>")  # literal text, never markup
    assert photos.nth(0).locator("td").all_text_contents() == ["33", "4/33 (12%)", "3/4"]
    assert photos.nth(1).locator("td").all_text_contents() == ["33", "23/33 (70%)", "–"]
    expect(page.locator("#real-photos-note")).to_contain_text("33 of 35 show a main object")
    gallery = page.locator("#gallery-table tbody tr")  # every evaluation photo, the misses included
    expect(gallery).to_have_count(3)
    expect(gallery.nth(1).locator("th a")).to_have_text("<b>Coffee</b>")  # literal text, never markup
    expect(gallery.nth(1).locator("th a")).to_have_attribute("href", "/image?model=captioner-sat-cnn&sample=coffee")
    assert gallery.nth(1).locator("td").all_text_contents() == ["cup", "a trophy", "no: missed"]
    assert gallery.nth(2).locator("td").all_text_contents()[2] == "yes: outside the vocabulary"
    expect(page.locator("#gallery-note")).to_contain_text("It names 1 of the 2 photos")
    page.screenshot(path="artifacts/eval_page.png", full_page=True)


@pytest.mark.browser
def test_eval_page_says_how_to_make_the_report(page: Page, problems: list[str], tmp_path: Path) -> None:
    with serve(create_app(Settings(reports_dir=tmp_path))) as url:
        page.goto(url + "/eval")
        expect(page.locator("#eval-error")).to_contain_text("run `make eval`", timeout=30_000)
        expect(page.locator("#scores-table tbody tr")).to_have_count(0)
    # the browser logs the expected 404 of /api/reports/translation; nothing else may appear
    problems[:] = [p for p in problems if "404" not in p]


def test_everyday_report_scores_models_and_apertium(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.evaluate import everyday

    data = tmp_path / "en_es_mix"
    data.mkdir()
    rows = [
        {"en": "A glass of water.", "es": "Un vaso de agua.", "source": "tuxpaint", "doc": "glass.txt"},
        {"en": "A red apple.", "es": "Una manzana roja.", "source": "tuxpaint", "doc": "apple.txt"},
        {"en": "Click the button to save the file.", "es": "Pulse el botón para guardar el archivo.",
         "source": "libreoffice-help", "doc": "text/save.html"},
    ]  # fmt: skip
    (data / "test_everyday.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setattr(everyday, "apertium_translate", lambda sentences: [f"*{s[:-1]} {s[-1]}" for s in sentences])
    report = everyday.build_report(data, tiny_folder.parent, tmp_path / "reports", [tiny_folder.name])
    assert report["pairs"] == 3 and report["pairs_by_source"] == {"libreoffice-help": 1, "tuxpaint": 2}
    assert set(report["systems"]) == {tiny_folder.name, "apertium"}
    for system in report["systems"].values():
        assert set(system["by_source"]) == {"libreoffice-help", "tuxpaint"} and 0 <= system["bleu"] <= 100
    assert everyday.apertium_hyps(["Is it here?"]) == ["¿Is it here?"]  # marks removed, opening mark added
    table = everyday.markdown(report)
    assert "| apertium |" in table and f"| {tiny_folder.name} |" in table
    assert "alignment" not in report["systems"][tiny_folder.name]  # no training mix here: no eflomal reference


def test_everyday_report_scores_attention_against_eflomal_links_and_breaks_down_the_training_data(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.evaluate import everyday

    data = tmp_path / "en_es_mix"
    data.mkdir()
    test = [{"en": "A glass of water.", "es": "Un vaso de agua.", "source": "tuxpaint", "doc": "glass.txt"},
            {"en": "A red apple.", "es": "Una manzana roja.", "source": "tuxpaint", "doc": "apple.txt"}]  # fmt: skip
    train = [{"en": f"A glass of {w}.", "es": f"Un vaso de {s}.", "source": src, "doc": str(k)}
             for k, (w, s, src) in enumerate([("milk", "leche", "gettext"), ("juice", "zumo", "bible"),
                                              ("wine", "vino", "bible"), ("water", "agua", "gettext")])]  # fmt: skip
    for name, rows in (("test_everyday.jsonl", test), ("train.jsonl", train), ("dev.jsonl", train[:1])):
        (data / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setattr(everyday, "apertium_translate", lambda sentences: list(sentences))
    report = everyday.build_report(data, tiny_folder.parent, tmp_path / "reports", [tiny_folder.name])
    assert report["training_pairs_by_source"] == {"train": {"bible": 2, "gettext": 2}, "dev": {"gettext": 1}}
    alignment = report["systems"][tiny_folder.name]["alignment"]
    assert 0.0 <= alignment["aer"] <= 1.0 and 0.0 < alignment["degeneracy"] <= 1.0
    assert alignment["links_reference"] > 0  # eflomal linked the test pairs' words
    assert 0.0 <= report["alignment_reference"]["forward_degeneracy"] <= 1.0
    table = everyday.markdown(report)
    assert "## Attention as alignment on the everyday set" in table and "| train | 2 | 2 |" in table


def test_degeneracy_is_the_mean_share_of_rows_on_the_most_chosen_source_word() -> None:
    import numpy as np

    from models.evaluate.degeneracy import attention_degeneracy, links_degeneracy, sentence_share

    assert sentence_share([0, 0, 1, 2]) == 0.5
    spread = np.eye(3)  # every target word on its own source word: 1/3
    stuck = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]])  # every row on word 0: 1
    one_word = np.ones((4, 1))  # one source word: left out
    assert attention_degeneracy([spread, stuck, one_word]) == pytest.approx((1 / 3 + 1) / 2)
    assert links_degeneracy([{(0, 0), (1, 1)}, {(0, 0), (0, 1), (0, 2)}, {(0, 0)}], [2, 3, 1]) == pytest.approx(0.75)


def test_lecture_sentences_report_checks_pan_and_its_row_on_a_served_model(tiny_folder: Path, tmp_path: Path) -> None:
    from models.evaluate import lecture_sentences

    report = lecture_sentences.build_report(tiny_folder.parent, [tiny_folder.name])
    model = report["models"][tiny_folder.name]
    assert [r["source"] for r in model["sentences"]][:2] == list(lecture_sentences.BREAD)
    for row in model["sentences"]:  # a random tiny model: the checks are computed, whatever they find
        assert isinstance(row["output"], str) and row["has_pan"] == bool(lecture_sentences.PAN.search(row["output"]))
    assert model["bread_has_pan"] == all(r["has_pan"] for r in model["sentences"][:2])
    assert lecture_sentences.COMER.search("estamos comiendo pan") and not lecture_sentences.COMER.search("como pan")
    assert f"| {tiny_folder.name} |" in lecture_sentences.markdown(report)
