"""attnviz.notebook: the Plotly figures hold exactly a real answer's tokens and weights, and the example notebook
(docs/attnviz_client.ipynb) runs top to bottom in a Jupyter kernel of this Python against a live server."""

import html
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import plotly.graph_objects as go
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from app.services.export import MapArray
from attnviz import notebook
from attnviz.client import Client, Result

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "attnviz_client.ipynb"
TEXT = "The cat sat on the mat."


@pytest.fixture(scope="module")
def answers(live_server: str) -> Iterator[tuple[Result, Result]]:
    """A MiniLM answer (layer 2, 12 heads) and a Marian EN-PT cross-attention answer (layer 1, 8 heads)."""
    with Client(live_server) as api:
        yield (api.attend("minilm-l6", TEXT, layers=[2]),
               api.attend("marian-en-pt", "The old black cat slept.", kinds=["cross"], layers=[1]))  # fmt: skip


def plain(labels: Any) -> list[str]:
    return [html.unescape(str(t)) for t in labels]


def test_heatmap_holds_the_map(answers: tuple[Result, Result]) -> None:
    sentence, translation = answers
    for result, kind, head in ((sentence, "self", 4), (translation, "cross", 0)):
        m = result.map(kind=kind, layer=result.maps[0].layer, head=head)
        fig = notebook.heatmap(result, kind=kind, layer=m.layer, head=head)
        assert len(fig.data) == 1 and fig.data[0].type == "heatmap"
        trace = fig.data[0]
        np.testing.assert_array_equal(np.asarray(trace.z), m.values)
        assert (trace.zmin, trace.zmax) == (0.0, 1.0)
        assert plain(fig.layout.yaxis.ticktext) == m.row_tokens and plain(fig.layout.xaxis.ticktext) == m.col_tokens
        assert list(fig.layout.yaxis.tickvals) == list(range(len(m.row_tokens)))
        assert fig.layout.yaxis.autorange == "reversed"  # the first query on top, as on the web page
        i, j = np.unravel_index(np.argmax(m.values), m.values.shape)
        assert trace.hovertext[i][j].endswith(f"weight {m.values[i, j]:.3f}")
        assert f"{kind} layer {m.layer} head {head}" in fig.layout.title.text and result.model in fig.layout.title.text
    assert "“the cat sat on the mat.”" in notebook.heatmap(sentence).layout.title.text
    title = notebook.heatmap(translation).layout.title.text
    assert "“The old black cat slept.”" in title and translation.output_text in title
    # "</s>" must stay literal text: Plotly would read <s> as strike-through markup
    assert "&lt;/s&gt;" in notebook.heatmap(translation).layout.xaxis.ticktext
    with pytest.raises(KeyError, match="head=99"):
        notebook.heatmap(sentence, head=99)


def segments(fig: go.Figure, head: int) -> list[tuple[int, int, float, float]]:
    """(query, key, opacity, width) of every line of one head, from its None-separated traces."""
    out = []
    for t in fig.data:
        if t.mode == "lines" and t.legendgroup == f"head {head}" and not t.showlegend:
            x, y = list(t.x), list(t.y)
            assert x == [0.0, 1.0, None] * (len(x) // 3) and y[2::3] == [None] * (len(y) // 3)
            out += [(q, k, t.opacity, t.line.width) for q, k in zip(y[0::3], y[1::3], strict=True)]
    return out


def test_head_view_draws_each_weight_above_the_threshold(answers: tuple[Result, Result]) -> None:
    sentence, translation = answers
    fig = notebook.head_view(sentence, layer=2)
    legend = [t for t in fig.data if t.showlegend]
    assert [t.name for t in legend] == [f"head {h}" for h in range(12)]  # one legend entry (toggle) per head
    assert len({t.line.color for t in legend}) == 12 and all(t.opacity is None for t in legend)
    for head in range(12):
        values = sentence.map(layer=2, head=head).values
        lines, above = segments(fig, head), np.nonzero(values >= notebook.MIN_WEIGHT)
        assert sorted((q, k) for q, k, _, _ in lines) == sorted(zip(*above, strict=True))
        assert len({(o, w) for _, _, o, w in lines}) <= len(notebook.LEVELS)
        by_weight = sorted((float(values[q, k]), o, w) for q, k, o, w in lines)  # heavier lines: never fainter
        assert all(a[1:] <= b[1:] for a, b in zip(by_weight, by_weight[1:], strict=False))
        assert len([t for t in fig.data if t.legendgroup == f"head {head}"]) <= 1 + len(notebook.LEVELS)
    queries, keys = (t for t in fig.data if t.mode == "text")
    assert plain(queries.text) == sentence.input_tokens == plain(keys.text)
    assert max(queries.x) < 0 and min(keys.x) > 1  # labels just outside the lines' ends (0 and 1)

    cross = notebook.head_view(translation, kind="cross", layer=1, heads=[0, 3], threshold=0.3)
    assert [t.name for t in cross.data if t.showlegend] == ["head 0", "head 3"]
    for head in (0, 3):
        values = translation.map(kind="cross", layer=1, head=head).values
        assert len(segments(cross, head)) == int((values >= 0.3).sum()) > 0
    queries, keys = (t for t in cross.data if t.mode == "text")
    assert plain(queries.text) == translation.output_tokens and plain(keys.text) == translation.input_tokens
    with pytest.raises(KeyError, match=r"heads \[9\]"):
        notebook.head_view(translation, kind="cross", layer=1, heads=[9])


def test_image_maps_and_offline_html() -> None:
    grid = np.random.default_rng(0).dirichlet(np.ones(16), size=16).astype(np.float32) / 16
    image = Result("dinov2-s14", None, None, None, [MapArray("cls", 11, 0, None, [], [], grid)],
                   {"image_size": [300, 451]})  # fmt: skip
    fig = notebook.heatmap(image)
    assert fig.layout.yaxis.title.text == "patch row" and fig.data[0].zmax == pytest.approx(float(grid.max()))
    assert fig.layout.title.text == "dinov2-s14 · image 300x451<br>cls layer 11 head 0"
    with pytest.raises(ValueError, match="no tokens"):
        notebook.head_view(image)
    bundle = notebook.OfflineRenderer().to_mimebundle(fig.to_dict())
    assert "Plotly.newPlot" in bundle["text/html"] and not re.search(r"src=\"https?:", bundle["text/html"])


def test_example_notebook_runs_against_a_live_server(
    live_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells), "commit the example notebook with its outputs cleared"
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    monkeypatch.setenv("ATTNVIZ_URL", live_server)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    # A kernel of this very interpreter (the venv's), whatever kernelspecs the machine or user has installed.
    write_kernel_spec(tmp_path / "kernels" / "attnviz-test")
    km = AsyncKernelManager(kernel_name="attnviz-test",
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")]))  # fmt: skip
    NotebookClient(nb, km=km, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute(cleanup_kc=True)

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o.data for o in outputs if o.output_type == "display_data"]
    figures = [d for d in shown if "application/vnd.plotly.v1+json" in d]
    assert len(figures) == 4  # MiniLM heatmap and head view, translation heatmap and head view
    assert [f["application/vnd.plotly.v1+json"]["data"][0]["type"] for f in figures] == ["heatmap", "scatter"] * 2
    assert all("Plotly.newPlot" in f["text/html"] for f in figures)
    pages = [d["text/html"] for d in shown if "text/html" in d]
    assert sum("plotly.js v" in p[:2000] for p in pages) == 1  # plotly.js embedded once, before the first figure
    assert not any(re.search(r"<script[^>]*src=\"https?:", p) for p in pages)  # nothing from a CDN
    printed = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert "O velho gato preto dormiu." in printed and "maps round-trip through translation.npz" in printed
    assert printed.splitlines()[-1] == sys.executable
