"""Plotly figures of a client Result, for Jupyter: one map as a heatmap, and the BertViz-style head view.

    from attnviz.client import Client
    from attnviz import notebook
    with Client("http://127.0.0.1:8000") as api:
        result = api.attend("minilm-l6", "The cat sat on the mat.", layers=[3])
    notebook.heatmap(result, layer=3, head=7).show()   # queries down, keys across, weights 0..1
    notebook.head_view(result, layer=3).show()         # every head of layer 3, one colour each, legend toggles
    notebook.show(result, layer=3, head=7)             # both at once

Offline: call `notebook.offline()` once in a notebook. Like `plotly.io.renderers.default = "notebook"` it embeds
plotly.js (from the plotly package) in the notebook, but without the MathJax <script> from a CDN that plotly's
HTML renderers add to every figure; "notebook_connected" would also fetch plotly.js from the network.
Colours are the web pages' own (static/js/lib/colours.js): the white-to-blue scale for weights, one colour per head.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import NotebookRenderer

from attnviz.client import AttentionMap, Result
from models.readouts import SPECIAL, word_groups

BLUES = [[0.0, "rgb(247,251,255)"], [0.25, "rgb(198,219,239)"], [0.5, "rgb(107,174,214)"],
         [0.75, "rgb(33,113,181)"], [1.0, "rgb(8,48,107)"]]  # fmt: skip
HEAD_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")  # fmt: skip
MIN_WEIGHT = 0.02  # head view: fainter lines are invisible anyway (static/js/lib/head_view.js skips them too)
# Head view line styles: a weight w >= threshold is drawn with the first level whose upper edge is above w.
# Plotly gives a trace one opacity and width, so a head has at most len(LEVELS) line traces and one legend entry.
LEVELS = ((0.1, 0.15, 1.0), (0.25, 0.35, 1.5), (0.5, 0.6, 2.5), (math.inf, 0.9, 3.5))  # (upper edge, opacity, px)
MAX_LABELS = 80  # heatmap axes: at most this many token labels, evenly thinned beyond it
TITLE_CHARS = 60  # the input as quoted in titles, cut to this many characters


def _text(token: str) -> str:
    """A token as Plotly text: Plotly reads tags such as <b> and <s>, so "</s>" must stay literal."""
    return html.escape(str(token), quote=False)


def _input_label(result: Result) -> str:
    """The input in words (subword pieces joined, special tokens left out), or the image's size."""
    if result.input_tokens:
        tokens = tuple(result.input_tokens)  # SentencePiece: words as written; WordPiece: punctuation reattached
        _, words = word_groups(tokens, "attach" if any(t.startswith("▁") for t in tokens) else "own")
        text = re.sub(r" ([.,;:!?])", r"\1", " ".join(w for w in words if w not in SPECIAL))
        return f"“{_cut(text)}”"
    size = result.raw.get("image_size")
    return f"image {size[0]}x{size[1]}" if size else "image"


def _head_label(head: int | str | None) -> str:
    return "mean of heads" if head is None else f"head {head}"


def _cut(text: str) -> str:
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"


def _title(result: Result, what: str) -> dict[str, Any]:
    """Two lines: model, input (and output), then what the figure shows."""
    out = f" → {_cut(result.output_text)}" if result.output_text else ""
    return {"text": _text(f"{result.model} · {_input_label(result)}{out}") + "<br>" + _text(what), "font": {"size": 14}}


def heatmap(result: Result, kind: str | None = None, layer: int | None = None, head: int | None = None,
            step: int | None = None) -> go.Figure:  # fmt: skip
    """The first map of `result` matching every given field, as a heatmap: query tokens down the y axis, key
    tokens along x, colour 0..1 (image maps: patch grid, colour 0..its maximum). Hover gives the weight.

    KeyError when no map matches. Axis labels are the tokens, thinned to MAX_LABELS on long inputs.
    """
    m = _find(result, kind, layer, head, step)
    rows, cols = m.values.shape
    tokens = bool(m.row_tokens)
    if tokens:
        y_labels, x_labels = [_text(t) for t in m.row_tokens], [_text(t) for t in m.col_tokens]
        hover = [[f"{q} → {k}<br>weight {v:.3f}" for k, v in zip(x_labels, row, strict=True)]
                 for q, row in zip(y_labels, m.values.tolist(), strict=True)]  # fmt: skip
        zmax = 1.0
    else:  # an image map: values[r][c] is the weight on patch (r, c), far below 1
        y_labels, x_labels = [str(r) for r in range(rows)], [str(c) for c in range(cols)]
        hover = [
            [f"patch ({r}, {c})<br>weight {v:.4f}" for c, v in enumerate(row)]
            for r, row in enumerate(m.values.tolist())
        ]
        zmax = float(m.values.max()) or 1.0
    trace = go.Heatmap(
        z=m.values, x=list(range(cols)), y=list(range(rows)), zmin=0.0, zmax=zmax, colorscale=BLUES,
        hovertext=hover, hoverinfo="text", colorbar={"title": {"text": "weight"}},
    )  # fmt: skip
    what = f"{m.kind} layer {m.layer} {_head_label(m.head)}"
    if m.step is not None:
        token = (result.output_tokens or [])[m.step : m.step + 1]
        what += f" step {m.step}" + (f" ({token[0]})" if token else "")
    fig = go.Figure(trace)
    fig.update_layout(
        title=_title(result, what), height=min(900, max(360, 18 * rows + 180)), plot_bgcolor="white",
        xaxis={"title": {"text": "key" if tokens else "patch column"}, **_ticks(x_labels), "side": "bottom"},
        yaxis={"title": {"text": "query" if tokens else "patch row"}, **_ticks(y_labels), "autorange": "reversed"},
    )  # fmt: skip
    return fig


def _ticks(labels: list[str]) -> dict[str, Any]:
    """Numeric positions with the tokens as their labels (a category axis would merge repeated tokens)."""
    every = max(1, math.ceil(len(labels) / MAX_LABELS))
    at = list(range(0, len(labels), every))
    return {"tickmode": "array", "tickvals": at, "ticktext": [labels[i] for i in at], "showgrid": False}


def _find(result: Result, kind: str | None, layer: int | None, head: int | None, step: int | None) -> AttentionMap:
    for m in result.maps:
        if (kind is None or m.kind == kind) and (layer is None or m.layer == layer) and \
                (head is None or m.head == head) and (step is None or m.step == step):  # fmt: skip
            return m
    raise KeyError(f"no map with kind={kind} layer={layer} head={head} step={step} in this result of {result.model}")


def head_view(result: Result, layer: int | None = None, heads: list[int] | None = None, kind: str | None = None,
              threshold: float = MIN_WEIGHT) -> go.Figure:  # fmt: skip
    """BertViz's head view of one layer: query tokens on the left, key tokens on the right, a line from query i
    to key j for every weight >= threshold, its opacity and width growing with the weight, one colour per head.
    Clicking a head in the legend hides or shows it (double-click: only that head).

    kind and layer default to the first map's; heads to every head of that layer in the result. Each head's
    lines are None-separated segments in at most len(LEVELS) traces sharing its legend entry (a trace of its
    own), so ~50 tokens x 12 heads stay a few dozen traces. ValueError for maps without tokens (image maps).
    """
    if not result.maps:
        raise ValueError(f"this result of {result.model} has no maps")
    kind = kind if kind is not None else result.maps[0].kind
    layer = layer if layer is not None else next((m.layer for m in result.maps if m.kind == kind), None)
    maps = {m.head: m for m in result.maps if m.kind == kind and m.layer == layer and isinstance(m.head, int)}
    if not maps:
        raise KeyError(f"no per-head maps with kind={kind} layer={layer} in this result of {result.model}")
    chosen = sorted(maps) if heads is None else list(heads)
    missing = [h for h in chosen if h not in maps]
    if missing:
        raise KeyError(f"heads {missing} of {kind} layer {layer} are not in this result (it has {sorted(maps)})")
    first = maps[chosen[0]]
    if not first.row_tokens:
        raise ValueError(f"{kind} maps have no tokens to draw a head view of; use heatmap()")
    rows, cols = first.values.shape
    traces: list[go.Scatter] = []
    for head in chosen:
        traces += _head_traces(int(head), maps[head].values, threshold)
    for x, labels, side in ((-0.03, first.row_tokens, "middle left"), (1.03, first.col_tokens, "middle right")):
        traces.append(go.Scatter(
            x=[x] * len(labels), y=list(range(len(labels))), mode="text", text=[_text(t) for t in labels],
            textposition=side, hoverinfo="skip", showlegend=False, name="queries" if x < 0 else "keys",
        ))  # fmt: skip
    fig = go.Figure(traces)
    hidden = {"visible": False, "showgrid": False, "zeroline": False}
    fig.update_layout(
        title=_title(result, f"{kind} layer {layer}, head view"), plot_bgcolor="white",
        height=max(22 * max(rows, cols), 30 * len(chosen) + 30) + 110, width=640, hovermode=False,
        margin={"t": 90, "b": 20, "l": 20, "r": 20},
        legend={"title": {"text": "heads"}}, xaxis={**hidden, "range": [-0.75, 1.75], "fixedrange": True},
        yaxis={**hidden, "range": [max(rows, cols) - 0.5, -0.5], "fixedrange": True},
    )  # fmt: skip
    return fig


def _head_traces(head: int, values: np.ndarray, threshold: float) -> list[go.Scatter]:
    """One head's legend entry (a trace that draws nothing, at full strength so the legend reads), then per
    style level the (query, key) pairs in it as None-separated segments."""
    colour, name, lower = HEAD_COLOURS[head % len(HEAD_COLOURS)], f"head {head}", threshold
    traces = [go.Scatter(x=[None], y=[None], mode="lines", line={"color": colour, "width": 3}, name=name,
                         legendgroup=name, showlegend=True, hoverinfo="skip")]  # fmt: skip
    for upper, opacity, width in LEVELS:
        if upper <= threshold:
            continue
        q, k = np.nonzero((values >= lower) & (values < upper))  # row-major order
        lower = upper
        if not len(q):
            continue
        x = np.tile(np.array([0.0, 1.0, None], dtype=object), len(q))
        y = np.empty(3 * len(q), dtype=object)
        y[0::3], y[1::3], y[2::3] = q.tolist(), k.tolist(), None
        traces.append(go.Scatter(
            x=x.tolist(), y=y.tolist(), mode="lines", line={"color": colour, "width": width}, opacity=opacity,
            name=name, legendgroup=name, showlegend=False, hoverinfo="skip",
        ))  # fmt: skip
    return traces


def show(result: Result, kind: str | None = None, layer: int | None = None, head: int | None = None,
         heads: list[int] | None = None, renderer: str | None = None) -> None:  # fmt: skip
    """Shows the heatmap of one map and, for token maps, the head view of its layer (fig.show(renderer))."""
    fig = heatmap(result, kind, layer, head)
    fig.show(renderer=renderer)
    m = _find(result, kind, layer, head, None)
    if m.row_tokens and isinstance(m.head, int):
        head_view(result, m.layer, heads, m.kind).show(renderer=renderer)


class OfflineRenderer(NotebookRenderer):
    """plotly's "notebook" renderer (plotly.js embedded once, at the first figure) without the MathJax CDN tag."""

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, str]:
        html_text = pio.to_html(
            fig_dict, config=self.config, include_plotlyjs=False, include_mathjax=False, full_html=False,
            default_width="100%", default_height=525, validate=False,
        )  # fmt: skip
        return {"text/html": html_text}


def offline(mimetype: bool = True) -> None:
    """Make every figure of this Jupyter kernel render with no network: the "attnviz" renderer (HTML with
    plotly.js embedded) plus, when `mimetype`, plotly's JSON mimetype that JupyterLab and VS Code draw."""
    pio.renderers["attnviz"] = OfflineRenderer()
    pio.renderers.default = "plotly_mimetype+attnviz" if mimetype else "attnviz"
