// Heads page: a stored corpus analysis (GET /api/heads/{name}) as a layers x heads grid coloured by one
// statistic, the selected head's top sentences (links to the text page) and the head clusters.
// The view is a function of (analysis, kind, statistic, layer, head), all kept in the address bar.

import { getJSON, isAbort, Latest } from "../lib/api.js";
import { $, el, option, showError, clearError } from "../lib/dom.js";
import { drawHeatmap, purge } from "../lib/heatmap.js";
import { readState, writeState } from "../lib/url_state.js";

const SCHEMA = {
  analysis: { type: "string", default: null },
  kind: { type: "string", default: null },
  stat: { type: "string", default: "prev" },
  layer: { type: "int", default: 0 },
  head: { type: "int", default: 0 },
};
const status = $("#heads-status");
const errorBox = $("#heads-error");
const latest = new Latest();
let summary = null; // the analysis drawn now
let state = readState(SCHEMA);

const kindOf = () => summary.kinds.find((k) => k.kind === state.kind) || summary.kinds[0];
const applies = (kind, stat) => (kind.means[stat] || []).some((row) => row.some((v) => v !== null));
const fmt = (v) => (v === null || v === undefined ? "n/a" : Number(v).toFixed(3));

function fillSelect(select, values, wanted, label = (v) => v) {
  select.replaceChildren(...values.map((v) => option(v, label(v))));
  select.value = values.map(String).includes(String(wanted)) ? String(wanted) : String(values[0]);
  return select.value;
}

// Settles state against the analysis (a stale link falls back to what exists) and fills the pickers.
function settle() {
  state.kind = fillSelect($("#heads-kind"), summary.kinds.map((k) => k.kind), state.kind);
  const kind = kindOf();
  const stats = Object.keys(summary.statistics).filter((s) => applies(kind, s));
  state.stat = fillSelect($("#heads-stat"), stats, state.stat);
  const range = (n) => Array.from({ length: n }, (_, i) => i);
  state.layer = Number(fillSelect($("#heads-layer"), range(kind.layers), state.layer));
  state.head = Number(fillSelect($("#heads-head"), range(kind.heads), state.head));
  writeState(state);
}

function textPageLink(text) {
  const params = new URLSearchParams({
    model: summary.model, text, kind: kindOf().kind, layer: String(state.layer), head: String(state.head),
  });
  return `/?${params}`;
}

function drawTop(kind) {
  const s = Object.keys(summary.statistics).indexOf(state.stat);
  const ids = kind.top[state.layer][state.head][s] || [];
  $("#top-title").textContent = ids.length || state.stat !== "aer"
    ? `Sentences where layer ${state.layer} head ${state.head} shows "${state.stat}" most`
    : `AER is one figure over the whole corpus: no sentence ranking for it`;
  $("#heads-top").replaceChildren(...ids.map((id) => {
    const text = summary.texts[String(id)] ?? "";
    return el("li", {}, el("a", { href: textPageLink(text) }, text), ` (sentence ${id})`);
  }));
}

function drawClusters(kind) {
  const groups = new Map();
  kind.clusters.forEach((label, k) => {
    const name = `L${Math.floor(k / kind.heads)}H${k % kind.heads}`;
    groups.set(label, [...(groups.get(label) || []), name]);
  });
  const selected = `L${state.layer}H${state.head}`;
  $("#heads-clusters").replaceChildren(...[...groups.entries()].sort((a, b) => a[0] - b[0]).map(([label, heads]) =>
    el("li", { dataset: { cluster: label } }, el("strong", {}, `Cluster ${label}`), ` (${heads.length}): `,
      heads.flatMap((h, i) => [i ? ", " : "", h === selected ? el("mark", {}, h) : h]))));
}

async function draw() {
  const kind = kindOf();
  const values = kind.means[state.stat];
  $("#stat-description").textContent = `${state.stat}: ${summary.statistics[state.stat]}. Mean over `
    + `${kind.sentences} sentences; selected: layer ${state.layer} head ${state.head} = `
    + `${fmt(values[state.layer][state.head])}.`;
  const grid = $("#heads-grid");
  await drawHeatmap(grid, {
    z: values,
    x: Array.from({ length: kind.heads }, (_, h) => `head ${h}`),
    y: Array.from({ length: kind.layers }, (_, l) => `layer ${l}`),
    title: `${summary.model}, ${kind.kind}: ${state.stat}`,
    xTitle: "head",
    yTitle: "layer",
    colorbarTitle: state.stat,
    height: Math.max(300, 40 * kind.layers + 170),
  });
  if (typeof grid.on === "function" && !grid.dataset.clicks) {
    grid.dataset.clicks = "1";
    grid.on("plotly_click", (event) => {
      const point = event.points && event.points[0];
      if (!point) return;
      state.layer = Number(point.y);
      state.head = Number(point.x);
      update();
    });
  }
  grid.dataset.drawn = `${summary.model}/${kind.kind}/${state.stat}`;
  drawTop(kind);
  drawClusters(kind);
}

function update() {
  settle();
  draw().catch((err) => showError(errorBox, `The grid could not be drawn: ${err.message}`));
}

async function load(name) {
  const { signal, id } = latest.next();
  summary = null;
  purge($("#heads-grid"));
  for (const list of ["#heads-top", "#heads-clusters"]) $(list).replaceChildren();
  clearError(errorBox);
  status.textContent = `Loading ${name}…`;
  try {
    const body = await getJSON(`/api/heads/${encodeURIComponent(name)}`, { signal });
    if (!latest.current(id)) return;
    summary = body;
    state.analysis = name;
    $("#heads-corpus").textContent = `${body.model} over ${body.sentences} sentences: ${body.corpus_description}.`
      + (body.skipped.length ? ` ${body.skipped.length} sentences the model refused were left out.` : "");
    status.textContent = "";
    update();
  } catch (err) {
    if (isAbort(err)) return;
    status.textContent = "";
    showError(errorBox, err.message);
  }
}

async function start() {
  let list;
  try {
    list = await getJSON("/api/heads");
  } catch (err) {
    status.textContent = "";
    showError(errorBox, err.message);
    return;
  }
  if (!list.length) {
    status.textContent = "No stored analysis yet: run `attnviz analyze --model minilm-l6 --corpus mix-dev`.";
    return;
  }
  const names = list.map((a) => a.name);
  const wanted = fillSelect($("#heads-analysis"), names, state.analysis, (n) => {
    const a = list.find((x) => x.name === n);
    return `${a.model} · ${a.corpus} (${a.sentences})`;
  });
  await load(wanted);
}

$("#heads-analysis").addEventListener("change", (e) => load(e.target.value));
for (const [id, key] of [["#heads-kind", "kind"], ["#heads-stat", "stat"]]) {
  $(id).addEventListener("change", (e) => { state[key] = e.target.value; update(); });
}
for (const [id, key] of [["#heads-layer", "layer"], ["#heads-head", "head"]]) {
  $(id).addEventListener("change", (e) => { state[key] = Number(e.target.value); update(); });
}
start();
