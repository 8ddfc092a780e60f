"""The layer order of app/ and models/ (docs in /work/shared/STYLE.md, "Layers"): imports only point down.

The import graph is built with `ast` from every .py file under app/ and models/ (models/weights is
data and skipped), counting every import of an app.* or models.* module wherever it is written:
at the top, inside a function, or under `if TYPE_CHECKING:`. The tests fail on
- any cycle between modules (even inside one layer), reported as a -> b -> ... -> a with file:line;
- any import from a lower layer to a higher one, reported as file:line and the two layers;
- a module that belongs to no layer (a new package must be placed in LAYERS first);
- a .py file over MAX_LINES lines whose module docstring does not contain COHESIVE.
The last tests run the same checkers on small synthetic trees, so we know they can fail.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "models")  # the two top-level packages whose imports are checked
SKIP = ("models/weights",)  # trained weights, configs and model cards: data, not code

# Bottom to top: a module may import modules of its own layer or of layers listed above it.
# A layer is a module or package prefix; a module belongs to the longest prefix that matches it.
LAYERS: list[str] = [
    "models.contract",  # output dataclasses every served model returns (text and image)
    "models.readouts",  # pure functions over those outputs: word merging, class-token maps, rollout
    "models.nets",  # one network per file, paper in the docstring, shapes in comments
    "models.formats",  # weight readers (Marian int8, ONNX initializers, HF folders)
    "models.serve",  # one adapter per family: input -> contract (tokens, decoding, images)
    "models.explain",  # attributions (Captum), agreement, deletion curves, head ablation over served models
    "models.catalog",  # every served model declared once
    "models.data",  # dataset builders from registry packages (scripts, not served)
    "app.core",  # settings, middleware, malloc tuning, response classes: knows nothing of services or routes
    "app.schemas",  # Pydantic request/response models of the API
    "app.services",  # registry, inference, cache, serializer: the work behind the routes
    "app.core.errors",  # exception handlers: turn the services' errors into {"detail"} answers, so above them
    "app.api",  # deps.py and routes/: HTTP in, schemas out
    "app.main",  # the app factory: wires core, services and routers together
    "app.scale",  # Ray: corpus head analysis (Ray Data) and the app's Ray Serve deployment
    "app.cli",  # the `attnviz` command: runs the app
    "models.train",  # one shared loop helper + one trainer per family
    "models.evaluate",  # metrics, alignment/AER, head study, captions, reports
]
# The package roots (app/__init__.py, models/__init__.py) belong to no layer: they must import nothing.

MAX_LINES = 400
# A file may pass MAX_LINES only when its module docstring says why, with these words, e.g.
# '"""... Kept as one cohesive file: the protocol reads top to bottom."""'.
COHESIVE = "one cohesive"


@dataclass(frozen=True)
class Import:
    source: str  # importing module, e.g. "app.api.routes.text"
    target: str  # imported module, resolved to a file under PACKAGES
    path: Path  # the importing file
    line: int  # line of the import statement

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}"


def module_files(root: Path, packages: tuple[str, ...] = PACKAGES, skip: tuple[str, ...] = SKIP) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of `packages` under `root` (outside `skip`)."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            if any(rel.as_posix().startswith(s + "/") for s in skip):
                continue
            parts = rel.with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that `name` (a module or a name inside one) lies in."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, modules: dict[str, Path], packages: tuple[str, ...] = PACKAGES) -> list[Import]:
    """Every import of a module of `packages` in `module`'s file, wherever in the file it is written."""
    path = modules[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: climb from the importing package
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(p for p in [*base_parts, node.module or ""] if p)
            else:
                base = node.module or ""
            # `from pkg import sub` imports the module pkg.sub when it exists, else names of pkg.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for name in names:
            if name.split(".")[0] not in packages:
                continue
            target = _resolve(name, modules)
            if target is not None and target != module:
                found.append(Import(module, target, path, node.lineno))
    return list(dict.fromkeys(found))  # `from m import a, b` is one import of m


def import_graph(
    root: Path, packages: tuple[str, ...] = PACKAGES, skip: tuple[str, ...] = SKIP
) -> dict[str, list[Import]]:
    """Module -> its imports of other modules of `packages`, in line order."""
    modules = module_files(root, packages, skip)
    return {m: sorted(imports_of(m, modules, packages), key=lambda i: i.line) for m in modules}


def find_cycles(graph: dict[str, list[Import]]) -> list[list[Import]]:
    """One cycle per strongly connected component with more than one module (Tarjan), as its edges."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the number of modules (~100)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for edge in graph[v]:
            w = edge.target
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)

    cycles = []
    for component in components:
        start = min(component)
        # Breadth-first from start, inside the component, back to start: the shortest cycle through it.
        previous: dict[str, Import] = {}
        frontier = [start]
        closing: Import | None = None
        while frontier and closing is None:
            next_frontier = []
            for v in frontier:
                for edge in graph[v]:
                    if edge.target == start:
                        closing = edge
                        break
                    if edge.target in component and edge.target not in previous:
                        previous[edge.target] = edge
                        next_frontier.append(edge.target)
                if closing is not None:
                    break
            frontier = next_frontier
        assert closing is not None  # a strongly connected component always has a cycle through start
        path = [closing]
        while path[0].source != start:
            path.insert(0, previous[path[0].source])
        cycles.append(path)
    return cycles


def describe_cycle(cycle: list[Import], root: Path) -> str:
    return " -> ".join(f"{e.source} ({e.where(root)})" for e in cycle) + f" -> {cycle[0].source}"


def layer_of(module: str, layers: list[str]) -> int | None:
    """Index in `layers` of the longest prefix `module` falls under; None when it is under none."""
    matches = [i for i, p in enumerate(layers) if module == p or module.startswith(p + ".")]
    return max(matches, key=lambda i: len(layers[i])) if matches else None


def layer_violations(root: Path, layers: list[str], packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Upward imports (file:line, both layers), modules in no layer, and imports made by a package root."""
    files = module_files(root, packages)
    graph = import_graph(root, packages)
    problems = []
    for module in sorted(graph):
        if module in packages:
            problems += [f"{e.where(root)}: the package root {module} imports {e.target}" for e in graph[module]]
            continue
        source = layer_of(module, layers)
        if source is None:
            problems.append(f"{files[module].relative_to(root)}: {module} belongs to no layer; add it to LAYERS")
            continue
        for edge in graph[module]:
            target = layer_of(edge.target, layers)
            if target is not None and target > source:
                problems.append(
                    f"{edge.where(root)}: {module} imports {edge.target}, "
                    f"layer {layers[source]} (#{source}) -> higher layer {layers[target]} (#{target})"
                )
    return problems


def oversized_files(root: Path, limit: int = MAX_LINES, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Files over `limit` lines whose module docstring does not contain COHESIVE."""
    problems = []
    for path in module_files(root, packages).values():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > limit and COHESIVE not in (ast.get_docstring(ast.parse(text)) or ""):
            problems.append(f"{path.relative_to(root)}: {lines} lines (> {limit}) and no {COHESIVE!r} in its docstring")
    return problems


# --- the real tree -----------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    cycles = [describe_cycle(c, ROOT) for c in find_cycles(import_graph(ROOT))]
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_imports_only_point_down() -> None:
    problems = layer_violations(ROOT, LAYERS)
    assert problems == [], "imports against the layer order:\n" + "\n".join(problems)


def test_every_layer_has_modules() -> None:
    """A layer named here but matching no module is a stale entry (a package was renamed)."""
    modules = module_files(ROOT)
    empty = [p for p in LAYERS if not any(m == p or m.startswith(p + ".") for m in modules)]
    assert empty == []


def test_files_stay_small_or_say_why() -> None:
    problems = oversized_files(ROOT)
    assert problems == [], "\n".join(problems)


# --- the checkers can fail: small synthetic trees ----------------------------------------------


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


TOY_LAYERS = ["models.low", "models.mid", "app", "models.top"]


def test_checker_reports_a_cycle(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "models/__init__.py": "",
            "models/mid/__init__.py": "",
            "models/mid/a.py": "from models.mid import b\n",
            "models/mid/b.py": "import os\n\n\ndef f():\n    from .c import g\n",  # relative, inside a function
            "models/mid/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import models.mid.a\n",
            "models/mid/d.py": "from models.mid.a import thing\n",  # into the cycle, not part of it
            "app/__init__.py": "",
        },
    )
    graph = import_graph(tmp_path)
    cycles = find_cycles(graph)
    assert len(cycles) == 1
    assert [e.source for e in cycles[0]] == ["models.mid.a", "models.mid.b", "models.mid.c"]
    assert describe_cycle(cycles[0], tmp_path) == (
        "models.mid.a (models/mid/a.py:1) -> models.mid.b (models/mid/b.py:5) -> "
        "models.mid.c (models/mid/c.py:3) -> models.mid.a"
    )
    assert layer_violations(tmp_path, TOY_LAYERS) == []  # one layer: only the cycle is wrong


def test_checker_reports_upward_imports(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "models/__init__.py": "",
            "models/low.py": '"""Bottom."""\n\n\ndef f():\n    from app.leaf import r\n',  # function-level, upward
            "models/mid/__init__.py": "from models.low import f\n",  # down: fine
            "models/top/__init__.py": "from app import helpers\n",  # down: fine
            "models/stray.py": "",  # in no layer
            "models/weights/x/helper.py": "import app.routes\n",  # data: skipped
            "app/__init__.py": "import models.low\n",  # a package root must import nothing
            "app/routes.py": "from models.top import something\nfrom .helpers import h\n",  # up; then sideways
            "app/helpers.py": "from models import mid\n",  # `from package import subpackage`: down
            "app/leaf.py": "",
        },
    )
    graph = import_graph(tmp_path)
    assert "models.weights.x.helper" not in graph
    assert [e.target for e in graph["app.routes"]] == ["models.top", "app.helpers"]
    assert [e.target for e in graph["app.helpers"]] == ["models.mid"]
    assert find_cycles(graph) == []
    assert layer_violations(tmp_path, TOY_LAYERS) == [
        "app/__init__.py:1: the package root app imports models.low",
        "app/routes.py:1: app.routes imports models.top, layer app (#2) -> higher layer models.top (#3)",
        "models/low.py:5: models.low imports app.leaf, layer models.low (#0) -> higher layer app (#2)",
        "models/stray.py: models.stray belongs to no layer; add it to LAYERS",
    ]


def test_checker_reports_long_files(tmp_path: Path) -> None:
    body = "x = 1\n" * MAX_LINES
    write_tree(
        tmp_path,
        {
            "models/__init__.py": "",
            "models/long.py": '"""A long module."""\n' + body,
            "models/cohesive.py": f'"""A long module, kept as {COHESIVE} file: it reads top to bottom."""\n' + body,
            "models/short.py": body,
            "app/__init__.py": "",
        },
    )
    assert oversized_files(tmp_path) == [
        f"models/long.py: {MAX_LINES + 1} lines (> {MAX_LINES}) and no 'one cohesive' in its docstring"
    ]
