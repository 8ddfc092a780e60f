"""The reference alignment beside a translation: eflomal with corpus priors, one sentence at a time."""

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from app.core.config import Settings
from app.main import create_app
from app.services.reference import link_agreement
from models.serve.reference_alignment import Priors, ReferenceAligner, eflomal_token, is_aligned_word

PRIORS = (  # strong lexical priors for the test sentence, as models/train/eflomal_priors.py writes them
    "LEX\twe\tnosotros\t50\nLEX\tare\tsomos\t50\nLEX\teating\tcomiendo\t50\nLEX\tbread\tpan\t100\n"
    "FERF\tbread\t1\t20\nFERR\tpan\t1\t20\nHMMF\t1\t20\nHMMR\t1\t20\n"
)


@pytest.fixture()
def priors_file(tmp_path: Path) -> Path:
    path = tmp_path / "priors.tsv"
    path.write_text(PRIORS, encoding="utf-8")
    return path


def test_words_as_the_aligner_sees_them() -> None:
    assert [eflomal_token(w) for w in ("bread.", "¿Dónde", "...", "(God)")] == ["bread", "Dónde", "...", "God"]
    assert not any(is_aligned_word(w) for w in ("</s>", "<s>", "[CLS]", " ", "<unk>"))
    assert is_aligned_word("pan")


def test_priors_keep_only_the_lines_of_a_sentence(priors_file: Path) -> None:
    priors = Priors.read(priors_file)
    lines = priors.for_sentence(["bread", "we"], ["pan"])
    assert lines == ["LEX\tbread\tpan\t100\n", "FERF\tbread\t1\t20\n", "FERR\tpan\t1\t20\n", "HMMF\t1\t20\n",
                     "HMMR\t1\t20\n"]  # fmt: skip
    (priors_file.parent / "bad.tsv").write_text("LEX\tonly-two\n")
    with pytest.raises(ValueError, match="line 1"):
        Priors.read(priors_file.parent / "bad.tsv")


def test_the_aligner_links_words_on_the_given_axes(priors_file: Path) -> None:
    aligner = ReferenceAligner(Priors.read(priors_file))
    source = ("We", "are", "eating", "bread", ".", "</s>")
    target = ("Estamos", "comiendo", "pan", ".", "</s>")
    links = aligner.links(source, target)
    assert (2, 3) in links  # pan -> bread
    assert all(0 <= t < 4 and 0 <= s < 5 for t, s in links)  # </s> is never linked
    assert len({t for t, _ in links}) == len(links)  # forward direction: one source word per target word


def test_agreement_counts_linked_target_words() -> None:
    assert link_agreement([0, 2, 1], [(0, 0), (1, 1), (2, 1)]) == pytest.approx(2 / 3)
    assert link_agreement([0, 2], []) == 0.0


@pytest.fixture()
def reference_client(priors_file: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(reference_priors=priors_file))) as c:
        yield c


def test_the_api_returns_links_and_agreement_on_the_word_level_axes(reference_client: TestClient) -> None:
    request = {"model": "rnn-additive-en-es", "text": "We are eating bread.", "word_level": True}
    response = reference_client.post("/api/attention/text", json={**request, "reference": "eflomal"})
    assert response.status_code == 200
    body = response.json()
    reference, cross = body["reference"], body["maps"][0]
    assert reference["aligner"] == "eflomal"
    assert (reference["target_words"], reference["source_words"]) == (cross["row_tokens"], cross["col_tokens"])
    pan, bread = reference["target_words"].index("pan"), reference["source_words"].index("bread")
    assert [pan, bread] in reference["links"]
    linked: dict[int, set[int]] = {}
    for t, s in reference["links"]:
        linked.setdefault(t, set()).add(s)
    argmax = np.asarray(cross["values"]).argmax(axis=1)
    expected = sum(int(argmax[t]) in s for t, s in linked.items()) / len(linked)
    assert reference["agreement"] == [{"layer": 0, "head": 0, "agreement": pytest.approx(expected, abs=1e-4)}]
    again = reference_client.post("/api/attention/text", json={**request, "reference": "eflomal"}).json()
    assert again["reference"]["links"] == reference["links"]  # sampled once, then the same answer
    assert "reference" not in reference_client.post("/api/attention/text", json=request).json()


@pytest.mark.parametrize("model", ["minilm-l6", "marian-en-pt"])
def test_no_reference_for_other_models(reference_client: TestClient, model: str) -> None:
    request = {"model": model, "text": "A cat.", "reference": "eflomal"}
    response = reference_client.post("/api/attention/text", json=request)
    assert response.status_code == 422
    assert "only for en->es translation models" in response.json()["detail"]


def test_missing_priors_is_a_clear_503(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(reference_priors=tmp_path / "none.tsv.gz"))) as client:
        response = client.post(
            "/api/attention/text", json={"model": "rnn-additive-en-es", "text": "We eat.", "reference": "eflomal"}
        )
    assert response.status_code == 503
    assert "reference aligner is not available" in response.json()["detail"]
    assert "eflomal_priors" in response.json()["detail"]


def test_priors_are_counted_from_a_corpus_and_read_back(tmp_path: Path) -> None:
    import json

    from models.train.eflomal_priors import main

    corpus = tmp_path / "train.jsonl"
    words = [("cat", "gato"), ("dog", "perro"), ("house", "casa"), ("bread", "pan"), ("tree", "árbol")] * 6
    lines = [{"en": f"the {w} is here.", "es": f"el {s} está aquí."} for w, s in words]
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    main(["--data", str(corpus), "--out", str(tmp_path / "out"), "--min-count", "1"])
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["pairs"] == 30 and metrics["lexical_kept"] > 0
    priors = Priors.read(tmp_path / "out" / "priors.tsv.gz")  # eflomal's format, gzip: readable by the service
    found = {(w, line.split("\t")[2]) for w, lines in priors.lexical.items() for line in lines}
    assert len(found & set(words)) >= 3  # the content words, each seen 6 times with its translation (eflomal samples)


@pytest.mark.browser
def test_the_heatmap_draws_the_aligners_links_and_their_agreement(priors_file: Path, page: Page) -> None:
    from urllib.parse import urlencode

    from tests.browser import ARTIFACTS
    from tests.conftest import serve

    with serve(create_app(Settings(reference_priors=priors_file))) as url:
        view = {"model": "rnn-additive-en-es", "text": "We are eating bread.", "kind": "cross", "word_level": "1"}
        view["reference"] = "1"  # the address uses the API's own names
        page.goto(f"{url}/?{urlencode(view)}")
        expect(page.locator("#heatmap")).to_have_attribute("data-reference-links", re.compile("^[1-9]"), timeout=30_000)
        traces = page.evaluate("document.getElementById('heatmap').data.map((t) => t.type)")
        assert traces == ["heatmap", "scatter"]
        note = page.locator("#reference-note")
        expect(note).to_contain_text("linked target words")
        assert "reference=1" in page.url
        page.screenshot(path=str(ARTIFACTS / "reference-alignment.png"), full_page=True)
        page.uncheck("#merge")  # links are word-level: the rings go, the note says why
        expect(page.locator("#heatmap")).to_have_attribute("data-reference-links", "0")
        expect(note).to_contain_text("Merge subwords")
        page.goto(f"{url}/?{urlencode({**view, 'model': 'minilm-l6', 'kind': 'self'})}")
        expect(page.locator("#status")).to_contain_text("maps.", timeout=30_000)
        expect(page.locator("#reference-control")).to_be_hidden()  # no aligner for an encoder
        page.goto("about:blank")  # nothing left loading when the server stops


def test_the_shipped_priors_align_an_everyday_sentence(client: TestClient) -> None:
    request = {"model": "rnn-additive-en-es", "text": "We are eating bread.", "word_level": True}
    response = client.post("/api/attention/text", json={**request, "reference": "eflomal"})
    assert response.status_code == 200
    reference = response.json()["reference"]
    pan, bread = reference["target_words"].index("pan"), reference["source_words"].index("bread")
    assert [pan, bread] in reference["links"]  # priors from 81,623 pairs of the training mix
