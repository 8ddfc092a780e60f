"""Typed input: an all-lower-case English sentence gets its first letter capitalised before the EN-ES models read
it (models.serve.pieces.cased, chosen on dev by models.evaluate.typed_input), and the answer says so."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from models.evaluate.typed_input import build_report, typed
from models.serve.pieces import CASING_NOTE, cased, read_as, source_pieces

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("we are eating bread", "We are eating bread"),
        ("  where is it?", "  Where is it?"),
        ("iPhone is here", "iPhone is here"),  # one capital letter: left as typed
        ("We are eating bread.", "We are eating bread."),
        ("", ""),
        ("   ", "   "),
        ("3 cats", "3 cats"),
    ],
)
def test_cased(text: str, expected: str) -> None:
    assert cased(text) == expected


class LowerCaseVocabulary:
    """A stand-in SentencePiece model whose vocabulary holds no capital letter (as tiny test vocabularies)."""

    def unk_id(self) -> int:
        return 0

    def encode(self, text: str) -> list[int]:
        return [0 if c.isupper() else 1 for c in text]


def test_read_as_never_turns_a_known_letter_into_unk() -> None:
    assert read_as(LowerCaseVocabulary(), "we eat bread") == "we eat bread"
    assert read_as(LowerCaseVocabulary(), "We eat bread") == "We eat bread"


def test_typed_lowers_and_drops_the_final_stop() -> None:
    assert typed("Where is the train station?") == "where is the train station"
    assert typed(" We eat bread. ") == "we eat bread"
    assert typed("Wait...") == "wait"


def test_source_pieces_read_the_cased_text() -> None:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(WEIGHTS / "rnn-additive-en-es" / "spm.model"))
    assert source_pieces(sp, "we eat bread", 2) == source_pieces(sp, "We eat bread", 2)
    assert source_pieces(sp, "iPhone", 2) != source_pieces(sp, "IPhone", 2)


@pytest.mark.parametrize("model", ["rnn-additive-en-es", "rnn-none-en-es", "transformer-en-es"])
def test_the_answer_says_when_the_input_was_capitalised(client: TestClient, model: str) -> None:
    typed_body = client.post("/api/attention/text", json={"model": model, "text": "we eat bread"}).json()
    written = client.post("/api/attention/text", json={"model": model, "text": "We eat bread"}).json()
    assert CASING_NOTE in (typed_body.get("note") or "")
    assert CASING_NOTE not in (written.get("note") or "")
    assert typed_body["output_text"] == written["output_text"]
    assert typed_body["maps"] == written["maps"]


def test_report_on_a_tiny_dev_file(tmp_path: Path) -> None:
    pairs = [
        {"en": "We eat bread.", "es": "Comemos pan."},
        {"en": "The cat is here.", "es": "El gato está aquí."},
        {"en": "Open the file.", "es": "Abra el archivo."},
    ]
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    report = build_report(tmp_path, WEIGHTS, ["rnn-none-en-es"])
    assert report["changed_by_rule"] == {"written": 0, "typed": 3}
    figures = report["models"]["rnn-none-en-es"]
    assert set(figures) == {"written", "written + rule", "typed", "typed + rule"}
    assert figures["written"] == figures["written + rule"]  # nothing to capitalise: the same inputs
    assert isinstance(report["rule_ships"], bool)


@pytest.mark.browser
def test_the_text_page_says_the_typed_sentence_was_capitalised(live_server: str, page: Page) -> None:
    page.goto(live_server + "/?model=rnn-additive-en-es")
    page.fill("#text", "we are eating bread")
    page.press("#text", "Enter")
    expect(page.locator("#output-text")).not_to_be_empty(timeout=30_000)
    expect(page.locator("#note")).to_contain_text("first letter was capitalised")
    expect(page.locator("#heatmap .xtick text").first).to_have_text("▁We")
    page.fill("#text", "We are eating bread.")
    page.press("#text", "Enter")
    expect(page.locator("#heatmap .xtick text").last).to_have_text("</s>")
    expect(page.locator("#note")).to_be_hidden()
