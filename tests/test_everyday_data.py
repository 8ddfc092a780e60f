"""The everyday English-Spanish mix (models/data/everyday_en_es.py), built from tiny fixture sources.

Every source gets a few files in tmp_path laid out as its Debian package lays them out (LibreOffice
help pages in two languages, .mo catalogs written here, a Mallard page pair, Tux Paint stamp files,
WordNet data files, a fortune file, a Bible build); Apertium is a dictionary unless the real binary is
installed, which one test then runs on three sentences. No apt, no network, a second or two.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest

from models.data import everyday_apertium, everyday_sources
from models.data.everyday_en_es import DEBIAN_PACKAGES, SPLITS, Inputs, build, loose, split_of
from models.data.everyday_text import APERTIUM_SOURCES, SOURCES, Pair, length_ok

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 90  # tiny SentencePiece model: the fixture text has few characters

# the fake Apertium: English -> Spanish; anything else comes back as one unknown word
FAKE_ES = {
    "A glass of water.": "Un vaso de agua.",
    "We are eating bread.": "Estamos comiendo pan.",
    "She runs to the store every morning.": "Corre a la tienda cada mañana.",
    "Every cloud has a silver lining.": "Cada nube tiene un forro plateado.",
    "Keep your eyes open, my friend.": "Mantén los ojos abiertos, mi amigo.",
    "All that glitters is not gold.": "No es oro todo lo que reluce.",
    "Did you see the big red boat?": "Viste el gran barco rojo?",
}


def fake_apertium(sentences: list[str]) -> list[str]:
    return [FAKE_ES.get(s, "*" + s) for s in sentences]


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU .mo catalog (what msgfmt writes, without the hash table)."""
    entries = sorted({"": "Content-Type: text/plain; charset=UTF-8\n", **messages}.items())
    ids = [k.encode() for k, _ in entries]
    strs = [v.encode() for _, v in entries]
    n = len(entries)
    start = 28 + 16 * n
    table, data = [], b""
    for blob in ids + strs:
        table.append((len(blob), start + len(data)))
        data += blob + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + b"".join(struct.pack("<2I", *t) for t in table) + data)


def help_page(blocks: list[tuple[str, str]]) -> str:
    tags = [("h2" if i.startswith("hd") else "p", i, t) for i, t in blocks]
    body = "".join(f'<{tag} id="{i}" dir="auto">{t}</{tag}>\n' for tag, i, t in tags)
    head = '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body><div id="DisplayArea">\n'
    return f"{head}{body}<br></div></body></html>\n"


def help_name(split: str) -> str:
    """A page name whose hash puts it in `split`."""
    for i in range(1000):
        name = f"text/page{i}.html"
        if split_of(Pair("", "", "libreoffice-help", name)) == split:
            return name
    raise AssertionError(split)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def make_sources(root: Path) -> Inputs:
    """Fixture files for every source under `root`."""
    bible = root / "bible"
    platter = ("One silver platter weighing one hundred thirty shekels.", "Un plato de plata de ciento treinta siclos.")
    verses = {
        "train": [
            ("Gen 1:1", "In the beginning God created the heavens.", "En el principio crió Dios los cielos."),
            ("Gen 1:2", "The earth was formless and empty.", "Y la tierra estaba desordenada y vacía."),
            ("Num 7:1", *platter),
            ("Num 7:2", *platter),
        ],
        "dev": [
            (
                "Exod 1:1",
                "Now these are the names of the sons of Israel.",
                "Estos son los nombres de los hijos de Israel.",
            )
        ],
        "test": [("Prov 1:1", "All that glitters is not gold.", "No es oro todo lo que reluce.")],
    }
    bible.mkdir(parents=True)
    sha = {}
    for split, rows in verses.items():
        lines = [json.dumps({"ref": ref, "en": en, "es": es}, ensure_ascii=False) + "\n" for ref, en, es in rows]
        (bible / f"{split}.jsonl").write_text("".join(lines), encoding="utf-8")
        sha[f"{split}.jsonl"] = hashlib.sha256((bible / f"{split}.jsonl").read_bytes()).hexdigest()
    (bible / "manifest.json").write_text(json.dumps({"sha256": sha}))

    help_root = root / "lo-help"
    pages = {
        help_name("test_everyday"): [
            ("par_id1", "Click the button to save your work.", "Pulse el botón para guardar su trabajo."),
            (
                "par_id2",
                "Choose a colour for the <b>selected</b> text.",
                "Elija un color para el texto <b>marcado</b>.",
            ),
            ("hd_id3", "Colours", "Colores"),
        ],
        help_name("dev"): [("par_id1", "Select the cells that you want to copy.", "Seleccione las celdas a copiar.")],
        help_name("train"): [
            ("par_id1", "Click the button to save your work.", "Pulse el botón para guardar su trabajo."),
            ("par_id2", "Select the cells that you want to copy.", "Marque las celdas que quiere copiar."),
            ("par_id3", "Enter the name of the new document here.", "Escriba aquí el nombre del documento nuevo."),
            ("par_id4", "The value %1 is not valid in this field.", "El valor %1 no es válido en este campo."),
            ("par_id5", "Open the file in a new window.", "Abra el archivo en una ventana nueva."),
            ("par_id5", "Close the window when you are done.", "Cierre la ventana cuando termine."),
        ],
    }
    for name, blocks in pages.items():
        write(help_root / "en-US" / name, help_page([(i, en) for i, en, _ in blocks]))
        write(help_root / "es" / name, help_page([(i, es) for i, _, es in blocks]))
    write(help_root / "en-US" / "text/only-english.html", help_page([("par_id1", "This page has no translation yet.")]))

    write_mo(
        root / "lo-ui" / "sw.mo",
        {
            "~Insert a new table here.": "~Insertar una tabla nueva aquí.",
            "ctx\x04The document could not be saved.": "No se pudo guardar el documento.",
            "Save": "Guardar",
            "%s files were deleted.": "%s archivos se borraron.",
        },
    )
    write_mo(
        root / "locale" / "coreutils.mo",
        {
            "The file was removed from the disk.": "El archivo se eliminó del disco.",
            "Print the name of the working directory.": "Muestra el nombre del directorio de trabajo.",
        },
    )

    ns = 'xmlns="http://projectmallard.org/1.0/"'
    write(
        root / "help/C/gnome-help/wifi.page",
        f"""<page {ns}><info><desc>Connect to a wireless network at home.</desc>
<credit><name>Ann</name></credit></info><title>Wireless networks</title>
<p>Open the system menu from the right side of the top bar.</p><p>See <link xref="net"/> for more.</p></page>""",
    )
    write(
        root / "help/es/gnome-help/wifi.page",
        f"""<page {ns}><info><desc>Conéctese a una red inalámbrica en casa.</desc>
<credit><name>Ann</name></credit></info><title>Redes inalámbricas</title>
<p>Abra el menú del sistema desde la parte derecha de la barra superior.</p>
<p>Consulte <link xref="net"/> para más.</p></page>""",
    )
    write(
        root / "help/C/gnome-help/odd.page", f"<page {ns}><p>First of two paragraphs here.</p><p>Second one.</p></page>"
    )
    write(root / "help/es/gnome-help/odd.page", f"<page {ns}><p>Un único párrafo traducido aquí.</p></page>")

    tux = root / "tuxpaint"
    write(tux / "animals/frog.txt", "A frog.\nde.utf8=Ein Frosch.\nes.utf8=Una rana.\n")
    write(tux / "animals/frog-1.txt", "A frog.\nde.utf8=Ein Frosch.\nes.utf8=Una rana.\n")
    write(tux / "food/water.txt", "A glass of water.\nes.utf8=Un vaso de agua.\n")
    write(tux / "misc/thing.txt", "A thing.\nfr.utf8=Une chose.\n")

    wordnet = root / "wordnet"
    licence = "  1 This software and database is being provided to you.\n"
    water = '00001740 03 n 01 water 0 000 | a liquid; "a glass of water"; "we are eating bread"\n'
    write(
        wordnet / "data.noun",
        licence + water + '00001741 03 n 01 cat 0 000 | an animal; "the cat sat on the zorblat"\n',
    )
    write(
        wordnet / "data.verb",
        licence + '00002000 30 v 01 run 0 000 | move fast; "she runs to the store every morning"\n',
    )
    write(wordnet / "data.adj", licence + '00003000 00 a 01 big 0 000 | large; "did you see the big red boat?"\n')
    write(wordnet / "data.adv", licence + "00004000 02 r 01 fast 0 000 | quickly\n")

    fortunes = root / "fortunes"
    write(
        fortunes / "cookie",
        "Every cloud has a silver lining.  Keep your eyes\nopen, my friend.\n\t\t-- Someone\n%\n"
        "All that glitters is not gold.\n%\n",
    )
    write(fortunes / "cookie.dat", "binary index")
    write(fortunes / "ascii-art", "Look at this picture of a cat.\n%\n")
    return Inputs(
        bible, help_root, root / "lo-ui", root / "locale", ("coreutils",), root / "help", tux, wordnet, fortunes
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Inputs]:
    root = tmp_path_factory.mktemp("everyday")
    inputs = make_sources(root / "sources")
    build(root / "out", inputs, vocab_size=VOCAB, translate=fake_apertium)
    return root / "out", inputs


def rows(out: Path, split: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_two_builds_are_byte_identical(built: tuple[Path, Inputs], tmp_path: Path) -> None:
    _, inputs = built
    build(tmp_path, inputs, vocab_size=VOCAB, translate=fake_apertium)
    first = {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir())}
    assert sorted(first) == sorted([*(f"{split}.jsonl" for split in SPLITS), "manifest.json", "spm.model", "spm.vocab"])
    build(tmp_path, inputs, vocab_size=VOCAB, translate=fake_apertium)
    for name, data in first.items():
        assert (tmp_path / name).read_bytes() == data, name


def test_expected_pairs_per_source_and_split(built: tuple[Path, Inputs]) -> None:
    out, _ = built
    found = {split: sorted((r["source"], r["en"]) for r in rows(out, split)) for split in SPLITS}
    assert found["test_everyday"] == [
        ("libreoffice-help", "Choose a colour for the selected text."),
        ("libreoffice-help", "Click the button to save your work."),
        ("tuxpaint", "A frog."),  # once: frog-1.txt repeats it
        ("tuxpaint", "A glass of water."),
    ]
    assert found["dev"] == [
        ("bible", "Now these are the names of the sons of Israel."),
        ("libreoffice-help", "Select the cells that you want to copy."),
    ]
    assert found["train"] == [
        ("apertium-fortunes", "Every cloud has a silver lining."),
        ("apertium-fortunes", "Keep your eyes open, my friend."),  # not "All that glitters": a Bible test verse
        ("apertium-wordnet", "Did you see the big red boat?"),
        ("apertium-wordnet", "She runs to the store every morning."),
        ("apertium-wordnet", "We are eating bread."),  # not "A glass of water.": a test line; not the zorblat
        ("bible", "In the beginning God created the heavens."),
        ("bible", "One silver platter weighing one hundred thirty shekels."),  # once
        ("bible", "The earth was formless and empty."),
        ("gettext", "Print the name of the working directory."),
        ("gettext", "The file was removed from the disk."),
        ("gnome-help", "Connect to a wireless network at home."),
        ("gnome-help", "Open the system menu from the right side of the top bar."),
        ("libreoffice-help", "Close the window when you are done."),
        ("libreoffice-help", "Enter the name of the new document here."),
        ("libreoffice-help", "Open the file in a new window."),
        ("libreoffice-ui", "Insert a new table here."),
        ("libreoffice-ui", "The document could not be saved."),
    ]
    spanish = {r["en"]: r["es"] for r in rows(out, "train")}
    assert spanish["Did you see the big red boat?"] == "¿Viste el gran barco rojo?"
    assert spanish["Insert a new table here."] == "Insertar una tabla nueva aquí."


def test_every_pair_is_tagged(built: tuple[Path, Inputs]) -> None:
    out, _ = built
    for split in SPLITS:
        for row in rows(out, split):
            assert list(row) == ["en", "es", "source", "doc"]
            assert row["source"] in SOURCES and row["doc"] and row["en"] and row["es"]


def test_splits_share_no_document_and_no_sentence(built: tuple[Path, Inputs]) -> None:
    out, inputs = built
    by_split = {split: rows(out, split) for split in SPLITS}
    bible_test = [json.loads(line) for line in (inputs.bible / "test.jsonl").read_text().splitlines()]
    held = {"bible_test": [{"en": r["en"], "es": r["es"], "source": "bible", "doc": r["ref"]} for r in bible_test]}
    groups = {**by_split, **held}
    for a in groups:
        for b in groups:
            if a >= b:
                continue
            docs_a = {(r["source"], r["doc"]) for r in groups[a]}
            assert not docs_a & {(r["source"], r["doc"]) for r in groups[b]}, (a, b)
            assert not {loose(r["en"]) for r in groups[a]} & {loose(r["en"]) for r in groups[b]}, (a, b)
            assert not {(r["en"], r["es"]) for r in groups[a]} & {(r["en"], r["es"]) for r in groups[b]}, (a, b)
    for split, records in by_split.items():
        assert len({(r["en"], r["es"]) for r in records}) == len(records), split


def test_test_set_is_human_translations_only(built: tuple[Path, Inputs]) -> None:
    out, _ = built
    assert {r["source"] for r in rows(out, "test_everyday")} <= {"tuxpaint", "libreoffice-help"}
    assert not {r["source"] for r in rows(out, "test_everyday")} & set(APERTIUM_SOURCES)


def test_length_filter_holds(built: tuple[Path, Inputs]) -> None:
    out, _ = built
    for split in SPLITS:
        for r in rows(out, split):
            if r["source"] != "bible":
                assert length_ok(r["en"], r["es"], min_words=1 if r["source"] == "tuxpaint" else 3), r


def test_manifest_counts_and_hashes(built: tuple[Path, Inputs]) -> None:
    out, inputs = built
    manifest = json.loads((out / "manifest.json").read_text())
    for split in SPLITS:
        assert manifest["counts"][split] == len(rows(out, split))
        assert sum(c[split] for c in manifest["counts_by_source"].values()) == len(rows(out, split))
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert manifest["bible_test"]["pairs"] == 1
    assert manifest["spm"]["vocab_size"] == VOCAB
    counts = manifest["counts_by_source"]
    assert counts["tuxpaint"]["duplicate"] == 1 and counts["bible"]["duplicate"] == 1
    assert counts["apertium-wordnet"]["apertium_unknown_words"] == 1  # the zorblat


def test_bible_build_must_match_its_manifest(built: tuple[Path, Inputs], tmp_path: Path) -> None:
    _, inputs = built
    shutil.copytree(inputs.bible, tmp_path / "bible")
    with open(tmp_path / "bible" / "dev.jsonl", "a") as f:
        f.write('{"ref": "Gen 9:9", "en": "An extra verse.", "es": "Un verso más."}\n')
    with pytest.raises(ValueError, match="does not match"):
        build(tmp_path / "out", dataclasses.replace(inputs, bible=tmp_path / "bible"), VOCAB, fake_apertium)


def test_help_pages_pair_by_id_in_page_order(tmp_path: Path) -> None:
    page = help_page([("par_id1", "A <b>bold</b> word<br>here."), ("hd_id2", "Title"), ("par_id1", "Again.")])
    write(tmp_path / "p.html", page.replace("</div>", '<p id="other">Not a help id.</p></div>'))
    assert everyday_sources.help_blocks(tmp_path / "p.html") == [
        ("par_id1", "A bold word here."),
        ("hd_id2", "Title"),
        ("par_id1", "Again."),
    ]


def test_apertium_marks_decide_the_spanish_side() -> None:
    assert everyday_apertium.spanish_side("He maximized it.", "Él *maximized lo.") is None
    assert everyday_apertium.spanish_side("We met Anna there.", "Conocimos *Anna allí .") == "Conocimos Anna allí."
    assert everyday_apertium.spanish_side("It broke.", "#Rompió.") is None
    assert everyday_apertium.split_sentences("Mr. Smith left. He was late! Why?") == [
        "Mr. Smith left.",
        "He was late!",
        "Why?",
    ]


def test_real_apertium_on_three_sentences() -> None:
    assert shutil.which("apertium"), "Debian apertium + apertium-eng-spa are missing: `make chromium` installs them"
    english = ["We are eating bread.", "The cat sat on the zorblat.", "Do you like coffee?"]
    raw = everyday_apertium.apertium_translate(english, batch=2)
    assert len(raw) == 3
    assert "pan" in raw[0] and raw[0].endswith(".")
    assert everyday_apertium.spanish_side(english[1], raw[1]) is None  # *zorblat
    assert everyday_apertium.spanish_side(english[2], raw[2]) == "¿Te gusta el café?"


def test_make_data_installs_every_source_package() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "models.data.everyday_en_es" in makefile
    assert [p for p in DEBIAN_PACKAGES if p not in makefile.split()] == []
