"""Readers of the human-translated English-Spanish text that Debian packages ship.

Each reader walks its files in sorted order and yields `Pair`s (models/data/everyday_text.py) with
both sides normalised; `doc` is the file the pair came from, relative to the reader's root, so the
builder can split by file. Nothing is filtered for sentence-likeness here: the builder does that.

  libreoffice_help  libreoffice-help-en-us + libreoffice-help-es: HTML help pages; paragraphs and
                    headings that carry the same id (par_id..., hd_id...) in both languages.
  catalog_pairs     gettext .mo catalogs (libreoffice-l10n-es, and the system catalogs under
                    /usr/share/locale/es/LC_MESSAGES): msgid -> msgstr, without message contexts,
                    plural forms and accelerator marks (~File, _File, &File).
  gnome_help        gnome-user-docs: Mallard pages in C/ and es/; the text blocks (p, title, desc)
                    of a page are paired by position, and only when both pages have the same
                    sequence of block paths; blocks holding a link or media without text are skipped.
  tuxpaint          tuxpaint-stamps-default: each stamp's description file, English first line
                    and its "es.utf8=" line.
"""

from __future__ import annotations

import gettext
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from models.data.everyday_text import Pair, normalise, strip_markup

LO_HELP_ROOT = Path("/usr/share/libreoffice/help")
LO_UI_DIR = Path("/usr/lib/libreoffice/program/resource/es/LC_MESSAGES")
LOCALE_DIR = Path("/usr/share/locale/es/LC_MESSAGES")
GNOME_HELP_ROOT = Path("/usr/share/help")
GNOME_HELP_BOOKS = ("gnome-help", "system-admin-guide")
TUXPAINT_ROOT = Path("/usr/share/tuxpaint/stamps")
# The system catalogs read, each with the Debian package that ships it (`make data` installs them all),
# so the set does not depend on whatever else a machine has installed.
GETTEXT_CATALOGS = {
    "Linux-PAM": "libpam-runtime",
    "WebKitGTK-4.1": "libwebkit2gtk-4.1-0",
    "adduser": "adduser",
    "appstream": "appstream",
    "apt": "apt",
    "bash": "bash",
    "bfd": "binutils-common",
    "binutils": "binutils-common",
    "coreutils": "coreutils",
    "diffutils": "diffutils",
    "dpkg": "dpkg",
    "dpkg-dev": "libdpkg-perl",
    "elfutils": "libelf1",
    "findutils": "findutils",
    "gas": "binutils-common",
    "gawk": "gawk",
    "gdk-pixbuf": "libgdk-pixbuf2.0-common",
    "gettext-runtime": "gettext-base",
    "gettext-tools": "gettext",
    "git": "git",
    "glib-networking": "glib-networking-common",
    "glib20": "libglib2.0-data",
    "gnupg2": "gnupg-l10n",
    "gnutls30": "libgnutls30",
    "gold": "binutils-common",
    "gprof": "binutils-common",
    "grep": "grep",
    "gsettings-desktop-schemas": "gsettings-desktop-schemas",
    "gst-plugins-base-1.0": "libgstreamer-plugins-base1.0-0",
    "gst-plugins-good-1.0": "gstreamer1.0-plugins-good",
    "gstreamer-1.0": "libgstreamer1.0-0",
    "gtk20": "libgtk2.0-common",
    "gtk20-properties": "libgtk2.0-common",
    "gtk30": "libgtk-3-common",
    "gtk30-properties": "libgtk-3-common",
    "ld": "binutils-common",
    "libapt-pkg6.0": "libapt-pkg6.0",
    "libc": "libc-l10n",
    "libhandy": "libhandy-1-0",
    "libidn2": "libidn2-0",
    "libsoup-3.0": "libsoup-3.0-common",
    "make": "make",
    "man-db": "man-db",
    "man-db-gnulib": "man-db",
    "opcodes": "binutils-common",
    "procps-ng": "procps",
    "psmisc": "psmisc",
    "sed": "sed",
    "shadow": "login",
    "tar": "tar",
    "wget": "wget",
    "xz": "xz-utils",
    "yelp": "yelp",
}

_HELP_ID = re.compile(r"^(par|hd)_id\w+$")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_ACCELERATOR = re.compile(r"[~_&](?=\w)")


class _IdTextParser(HTMLParser):
    """Collects the text of every element whose id looks like par_id... or hd_id..., in page order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []  # (id, raw text)
        self._open: list[tuple[str, str, list[str], list[int]]] = []  # (tag, id, text parts, [depth])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br":
                self.handle_data(" ")
            return
        for open_tag, _, _, depth in self._open:
            if open_tag == tag:
                depth[0] += 1
        element_id = dict(attrs).get("id") or ""
        if _HELP_ID.match(element_id):
            self._open.append((tag, element_id, [], [0]))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            open_tag, element_id, parts, depth = self._open[index]
            if open_tag != tag:
                continue
            if depth[0] == 0:
                self.blocks.append((element_id, "".join(parts)))
                del self._open[index]
            else:
                depth[0] -= 1

    def handle_data(self, data: str) -> None:
        for _, _, parts, _ in self._open:
            parts.append(data)


def help_blocks(path: Path) -> list[tuple[str, str]]:
    """(id, normalised text) of every par_id/hd_id element of one help page, in page order."""
    parser = _IdTextParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return [(element_id, normalise(text)) for element_id, text in parser.blocks]


def _by_occurrence(blocks: list[tuple[str, str]]) -> dict[tuple[str, int], str]:
    """(id, how many times the id was seen before) -> text: a repeated id pairs in page order."""
    seen: dict[str, int] = {}
    keyed: dict[tuple[str, int], str] = {}
    for element_id, text in blocks:
        keyed[(element_id, seen.get(element_id, 0))] = text
        seen[element_id] = seen.get(element_id, 0) + 1
    return keyed


def libreoffice_help(root: Path = LO_HELP_ROOT, en: str = "en-US", es: str = "es") -> Iterator[Pair]:
    """Help paragraphs paired by id; doc = the page path under the language folder."""
    for en_path in sorted((root / en).rglob("*.html")):
        rel = en_path.relative_to(root / en)
        es_path = root / es / rel
        if not es_path.is_file():
            continue
        es_blocks = _by_occurrence(help_blocks(es_path))
        for key, en_text in _by_occurrence(help_blocks(en_path)).items():
            es_text = es_blocks.get(key)
            if en_text and es_text:
                yield Pair(en_text, es_text, "libreoffice-help", rel.as_posix())


def _message(text: str) -> str:
    return normalise(_ACCELERATOR.sub("", text))


def catalog_pairs(mo_files: list[Path], source: str) -> Iterator[Pair]:
    """Every singular message of each catalog, in msgid order; doc = the catalog's file name."""
    for mo in sorted(mo_files):
        with mo.open("rb") as f:
            catalog = gettext.GNUTranslations(f)
        messages: dict[str, str] = catalog._catalog  # type: ignore[attr-defined]
        items = [(k, v) for k, v in messages.items() if isinstance(k, str) and isinstance(v, str) and k]
        for msgid, msgstr in sorted(items):
            en, es = _message(msgid.split("\x04")[-1]), _message(msgstr)
            if en and es:
                yield Pair(en, es, source, mo.name)


_MALLARD_BLOCKS = {"p", "title", "desc"}
_MALLARD_SKIP = {"credit", "license", "code", "screen", "media", "revision"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def mallard_blocks(path: Path) -> list[tuple[str, str | None]]:
    """(block path, text or None when unusable) for each text block of a Mallard page, in order."""
    blocks: list[tuple[str, str | None]] = []

    def walk(element: ET.Element, parents: str) -> None:
        name = _local(element.tag)
        if name in _MALLARD_SKIP:
            return
        here = f"{parents}/{name}"
        if name in _MALLARD_BLOCKS:
            inner = list(element.iter())
            empty_link = any(_local(e.tag) in ("link", "media") and not "".join(e.itertext()).strip() for e in inner)
            blocks.append((here, None if empty_link else normalise("".join(element.itertext()))))
            return
        for child in element:
            walk(child, here)

    walk(ET.parse(path).getroot(), "")
    return blocks


def gnome_help(root: Path = GNOME_HELP_ROOT, books: tuple[str, ...] = GNOME_HELP_BOOKS) -> Iterator[Pair]:
    """Mallard text blocks of C/ and es/ pages with the same block structure; doc = book/page."""
    for book in books:
        for en_path in sorted((root / "C" / book).glob("*.page")):
            es_path = root / "es" / book / en_path.name
            if not es_path.is_file():
                continue
            en_blocks, es_blocks = mallard_blocks(en_path), mallard_blocks(es_path)
            if [p for p, _ in en_blocks] != [p for p, _ in es_blocks]:
                continue  # the translation does not follow the page's structure
            for (_, en), (_, es) in zip(en_blocks, es_blocks, strict=True):
                if en and es:
                    yield Pair(en, es, "gnome-help", f"{book}/{en_path.name}")


def tuxpaint(root: Path = TUXPAINT_ROOT) -> Iterator[Pair]:
    """Each stamp description: English first line, Spanish "es.utf8=" line; doc = the .txt path."""
    for path in sorted(root.rglob("*.txt")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if not lines:
            continue
        es = next((line.split("=", 1)[1] for line in lines[1:] if line.startswith("es.utf8=")), "")
        en, es = strip_markup(lines[0]), strip_markup(es)
        if en and es:
            yield Pair(en, es, "tuxpaint", path.relative_to(root).as_posix())
