// Text attention page. The view is a function of (request, response, selection): a new model, text
// or beam clears the old result before anything is drawn, an error replaces the result, answers to
// superseded requests are dropped (AbortController), and the address always names what is drawn.
// A sentence costs two requests: the layer that opens (float16) and then every layer for the model
// view (float16 for short inputs, 8-bit beyond 128 tokens). An input whose maps would pass ALL_LAYERS_CELLS
// weights (a long text through SmolLM2's 30 x 9 heads) loads one layer when a view opens it instead.
// Tokens are only ever set as text.

import { ApiError, Latest, isAbort, postJSON } from "../lib/api.js";
import { $, clearError, copyLink, el, option, setBusy, showError, showSaved } from "../lib/dom.js";
import { drawHeatmap, purge } from "../lib/heatmap.js";
import { drawHeadView } from "../lib/head_view.js";
import { BLUES_LUT, headColour } from "../lib/colours.js";
import { combine, decodeMap, mergeWords } from "../lib/math.js";
import { fetchMaps, layerStats, rolloutOf } from "../lib/maps.js";
import {
  arraysNpz, captionOf, framedSvg, gridSvg, mapFigure, mapsCsv, serialiseSvg, wireExport,
} from "../lib/export.js";
import { fillPicker } from "../lib/model_picker.js";
import { createAblation, createExplain } from "./text_explain.js";
import { readState, writeState } from "../lib/url_state.js";

const ui = {
  form: $("#text-form"), model: $("#model"), text: $("#text"), beam: $("#beam"), beamField: $("#beam-field"),
  status: $("#status"), error: $("#error"), result: $("#result"), kind: $("#kind"), layer: $("#layer"),
  head: $("#head"), merge: $("#merge"), reference: $("#reference"), referenceControl: $("#reference-control"),
  referenceNote: $("#reference-note"), heatmap: $("#heatmap"), headView: $("#head-view"),
  headPicker: $("#head-picker"), headLines: $("#head-lines"), grid: $("#grid"), modelView: $("#model-view"),
  stats: $("#stats-table"), output: $("#output"), outputText: $("#output-text"), note: $("#note"),
  modelNote: $("#model-note"), unavailable: $("#unavailable"), controls: $("#view-controls"),
  views: $("#result .views"), statsBox: $("#result .stats"), caption: $("#main-caption"),
  save: $("#save-result"), saved: $("#saved"), savedUrl: $("#saved-url"), savedToken: $("#saved-token"),
  explain: $("#explain"), explainControls: $("#explain-controls"), explainRow: $("#explain-row"),
  explainRowField: $("#explain-row-field"), explainCompare: $("#explain-compare"),
  explainCompareField: $("#explain-compare-field"), explainRun: $("#explain-run"), explainPlot: $("#explain-plot"),
  explainTable: $("#explain-table"), explainCurve: $("#explain-curve"), explainNote: $("#explain-note"),
  ablationBox: $("#ablation"), ablateMode: $("#ablate-mode"), ablateRun: $("#ablate-run"), ablateClear: $("#ablate-clear"),
  ablateCount: $("#ablate-count"), ablateResult: $("#ablate-result"), ablateDiff: $("#ablate-diff"),
  rankBox: $("#importance"), rankRun: $("#rank-run"), rankTable: $("#rank-table"), rankNote: $("#rank-note"),
  sinkNote: $("#sink-note"),
};

const SCHEMA = {
  model: { type: "string" }, text: { type: "string" }, beam: { type: "int" }, kind: { type: "string" },
  layer: { type: "int" }, head: { type: "string" }, view: { type: "string", default: "heatmap" },
  word_level: { type: "bool" }, reference: { type: "bool" }, result: { type: "string" },
};
const KIND_NAMES = {
  self: "self-attention",
  encoder_self: "encoder self-attention",
  decoder_self: "decoder self-attention (masked)",
  cross: "cross-attention",
};
const AGGREGATES = { mean: "mean over heads", max: "max over heads", rollout: "rollout up to this layer" };
const REFERENCE_PAIRS = [["en", "es"]]; // language pairs whose aligner priors the server has
const EXACT_UP_TO = 128; // tokens up to which every layer travels as float16
const THUMB_CELLS = 64; // thumbnails are pooled down to at most this many cells a side
const ALL_LAYERS_CELLS = 20_000_000; // more weights than this (every map of a kind): layers load one at a time

let models = [];
const latest = new Latest(); // the sentence's requests
const referenceRequest = new Latest();
let state = null; // {request, answer, response, maps: Map, complete, rollout: Map, stats: Map, reference, summary}
let sel = { kind: null, layer: 0, head: "0", view: "heatmap", focus: null, picked: null, sort: "head" };

const key = (kind, layer, head) => `${kind}/${layer}/${head}`;
const modelInfo = (id) => models.find((m) => m.id === id);
const message = (err) => (err instanceof ApiError || err instanceof Error ? err.message : String(err));

// ---- State ---------------------------------------------------------------------------------

function clearResult() {
  state = null;
  purge(ui.heatmap);
  ui.headLines.replaceChildren();
  ui.headPicker.replaceChildren();
  ui.grid.replaceChildren();
  ui.stats.tBodies[0].replaceChildren();
  ui.outputText.textContent = "";
  ui.note.textContent = "";
  ui.referenceNote.textContent = "";
  ui.saved.hidden = true;
  ui.savedUrl.value = "";
  ui.savedToken.textContent = "";
  ui.result.hidden = true;
  for (const k of ["kind", "layer", "head", "wordLevel"]) delete ui.heatmap.dataset[k];
  explain.reset();
  ablation.reset();
}

function failed(err) {
  clearResult();
  setBusy(ui.form, false);
  ui.status.textContent = "";
  showError(ui.error, message(err));
}

// The address bar names what is drawn, written as the view changes (writeState skips an unchanged address).
function saveUrl() {
  const beam = beamOffered() && ui.beam.value !== "1" ? Number(ui.beam.value) : null;
  const base = { model: ui.model.value, text: ui.text.value, beam };
  if (!state || !state.response || !state.response.maps.length) {
    writeState(base);
    return;
  }
  writeState({
    ...base, kind: sel.kind, layer: sel.layer, head: sel.head, view: sel.view,
    word_level: ui.merge.checked, reference: ui.reference.checked, result: state.savedId ?? null,
  });
}

function beamOffered(id = ui.model.value) {
  const m = modelInfo(id);
  return Boolean(m && (m.options || []).includes("beam"));
}

// The aligner's links exist for English->Spanish translation models only.
function referenceOffered() {
  const m = state && modelInfo(state.request.model);
  return Boolean(m && m.task === "translation"
    && REFERENCE_PAIRS.some(([s, t]) => m.source_lang === s && m.target_lang === t));
}

function shapeOf(kind) {
  const m = modelInfo(state.request.model);
  return m.attention_shapes.find((s) => s.kind === kind) || { kind, layers: 1, heads: 1 };
}

function kindsOf(m) {
  return m.attention_shapes.filter((s) => s.layers > 0).map((s) => s.kind);
}

// The layer a kind opens on: translations' cross-attention on the catalog's readable layer.
function defaultLayer(m, kind) {
  const shape = m.attention_shapes.find((s) => s.kind === kind);
  if (!shape) return 0;
  if (kind === "cross") return m.default_layer ?? shape.layers - 1;
  return 0;
}

function addMaps(maps) {
  state.views.clear(); // combined and merged views are recomputed from the new maps
  for (const raw of maps) {
    const map = "values" in raw ? raw : decodeMap(raw); // 8-bit maps decode lazily: do not touch them
    const k = key(map.kind, map.layer, map.head);
    const have = state.maps.get(k);
    if (have && have.dtype !== "uint8" && map.dtype === "uint8") continue; // keep the exact one
    state.maps.set(k, map);
  }
}

function layerMaps(layer, kind = sel.kind) {
  const shape = shapeOf(kind);
  const out = [];
  for (let h = 0; h < shape.heads; h++) {
    const m = state.maps.get(key(kind, layer, h));
    if (m) out.push(m);
  }
  return out;
}

function display(values, rowTokens, colTokens) {
  if (!ui.merge.checked) return { values, rowTokens, colTokens };
  return mergeWords(values, rowTokens, colTokens);
}

// Rollout through every layer of a kind: computed once per answer, in a worker; null until it is ready
// (the view is drawn again when it arrives).
function rolloutFor(kind) {
  if (!state.rollout.has(kind)) {
    const mine = state;
    const shape = shapeOf(kind);
    const job = { rows: null };
    state.rollout.set(kind, job);
    rolloutOf({ answer: state.answer, kind, layers: shape.layers, heads: shape.heads }).then((rows) => {
      job.rows = rows;
      if (state === mine && sel.kind === kind && sel.head === "rollout") drawMain();
    }, (err) => {
      if (state === mine) showError(ui.error, `Rollout failed: ${message(err)}`);
    });
  }
  return state.rollout.get(kind).rows;
}

// The map drawn large, or null while its layers are still on the way. A view (head mean, merged words)
// is computed once per answer and kept for the last few selections, so switching back is instant.
// (<html data-view-cache="off"> turns the keeping off: benchmarks/browser_pages.py times cold switches so.)
const KEPT_VIEWS = 12;
function selectedMap() {
  if (document.documentElement.dataset.viewCache === "off") return computeMap();
  const viewKey = `${sel.kind}/${sel.layer}/${sel.head}/${ui.merge.checked}`;
  const kept = state.views.get(viewKey);
  if (kept) return kept;
  const view = computeMap();
  if (view) {
    state.views.set(viewKey, view);
    if (state.views.size > KEPT_VIEWS) state.views.delete(state.views.keys().next().value);
  }
  return view;
}

function computeMap() {
  const heads = layerMaps(sel.layer);
  if (!heads.length) return null;
  const base = heads[0];
  let values;
  if (sel.head === "rollout") {
    if (!state.complete) return null;
    const layers = rolloutFor(sel.kind);
    if (!layers) return null;
    values = layers[sel.layer];
  } else if (sel.head in AGGREGATES) {
    if (heads.length < shapeOf(sel.kind).heads) return null;
    values = combine(heads, sel.head);
  } else {
    const one = heads.find((m) => String(m.head) === sel.head);
    if (!one) return null;
    values = one.values;
  }
  return { kind: sel.kind, layer: sel.layer, head: sel.head, ...display(values, base.row_tokens, base.col_tokens) };
}

// ---- Drawing -------------------------------------------------------------------------------

function headLabel(head) {
  return head in AGGREGATES ? AGGREGATES[head] : `head ${head}`;
}

// Share of linked target words whose attention argmax is a linked source word.
function referenceAgreement(values) {
  const linked = new Map();
  for (const [t, s] of state.reference.links) {
    if (!linked.has(t)) linked.set(t, new Set());
    linked.get(t).add(s);
  }
  let hits = 0;
  for (const [t, sources] of linked) {
    const row = values[t];
    if (!row) continue;
    let best = 0;
    for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
    if (sources.has(best)) hits += 1;
  }
  return { hits, total: linked.size };
}

// Rings on the aligner's links when they fit the axes (cross-attention merged into words).
function referenceOverlay(map) {
  const on = ui.reference.checked && state.reference;
  ui.referenceNote.hidden = !on;
  if (!on) return null;
  if (map.kind !== "cross" || !ui.merge.checked) {
    ui.referenceNote.textContent = "The aligner links words: choose cross-attention and turn on “Merge subwords into words” to see them.";
    return null;
  }
  const { hits, total } = referenceAgreement(map.values);
  const share = total ? Math.round((100 * hits) / total) : 0;
  ui.referenceNote.textContent = `Aligner (eflomal) agreement: ${hits} of ${total} linked target words (${share}%) have their attention argmax on a linked source word. Rings mark the aligner's links.`;
  const links = state.reference.links;
  return {
    type: "scatter", mode: "markers", name: "eflomal link", x: links.map(([, s]) => s), y: links.map(([t]) => t),
    marker: { symbol: "circle-open", size: 16, line: { width: 2 }, color: "#d62728" },
    hovertemplate: "aligner link<extra></extra>", showlegend: false,
  };
}

function drawHeads() {
  const heads = layerMaps(sel.layer);
  if (sel.picked === null || sel.picked.some((h) => !heads.some((m) => m.head === h))) {
    sel.picked = sel.head in AGGREGATES ? heads.map((m) => m.head) : [Number(sel.head)];
  }
  ui.headPicker.replaceChildren(...heads.map((m) => {
    const box = el("input", { type: "checkbox", checked: sel.picked.includes(m.head), dataset: { head: m.head } });
    box.addEventListener("change", () => {
      sel.picked = heads.map((x) => x.head)
        .filter((h) => ui.headPicker.querySelector(`input[data-head="${h}"]`).checked);
      drawHeads();
    });
    const label = el("label", { class: "swatch" }, box, ` ${m.head}`);
    label.style.setProperty("--swatch", headColour(m.head));
    return label;
  }));
  const drawn = heads.filter((m) => sel.picked.includes(m.head))
    .map((m) => ({ head: m.head, ...display(m.values, m.row_tokens, m.col_tokens) }));
  const first = drawn[0] || display(heads[0].values, heads[0].row_tokens, heads[0].col_tokens);
  drawHeadView(ui.headLines, {
    rowTokens: first.rowTokens, colTokens: first.colTokens, heads: drawn, focus: sel.focus,
    onFocus: (row) => {
      sel.focus = row;
      drawHeads();
    },
  });
}

function drawMain() {
  if (!state || !state.response) return;
  const map = selectedMap();
  if (!map) {
    ui.status.textContent = sel.head === "rollout" && state.complete ? "Computing rollout…" : "Loading the layers this view needs…";
    if (state.lazy) loadLayer(sel.layer);
    return;
  }
  if (state.summary && ui.status.textContent !== state.summary) ui.status.textContent = state.summary;
  const heads = sel.view === "heads";
  const explaining = sel.view === "explain";
  ui.heatmap.hidden = heads || explaining;
  ui.headView.hidden = !heads;
  ui.explain.hidden = !explaining;
  if (explaining) {
    ui.referenceNote.hidden = true;
    const wanted = JSON.stringify([sel.kind, sel.layer, sel.head, ui.explainRow.value]);
    if (explain.prepare() && state.explained !== wanted) {
      state.explained = wanted;
      explain.run(sel);
    }
  } else if (heads) {
    ui.referenceNote.hidden = true;
    drawHeads();
  } else {
    const overlay = referenceOverlay(map);
    ui.heatmap.dataset.referenceLinks = overlay ? String(overlay.x.length) : "0";
    drawHeatmap(ui.heatmap, {
      z: map.values, x: map.colTokens, y: map.rowTokens, zmin: 0,
      title: `Layer ${map.layer}, ${headLabel(map.head)} (${KIND_NAMES[map.kind]})`,
      xTitle: "key (attended to)", yTitle: "query (attending)", colorbarTitle: "weight",
      extraTraces: overlay ? [overlay] : [],
    }).then(() => requestAnimationFrame(() => performance.mark("attnviz:heatmap"))); // for benchmarks/browser_pages.py
  }
  ui.heatmap.dataset.kind = map.kind;
  ui.heatmap.dataset.layer = String(map.layer);
  ui.heatmap.dataset.head = String(map.head);
  ui.heatmap.dataset.wordLevel = String(ui.merge.checked);
  markThumbs();
  drawStats();
  saveUrl();
}

function markThumbs() {
  for (const t of ui.grid.querySelectorAll(".thumb")) {
    const on = t.dataset.layer === String(sel.layer) && t.dataset.head === sel.head;
    t.classList.toggle("selected", on);
    t.setAttribute("aria-pressed", String(on));
  }
}

// Mean-pools a map to at most THUMB_CELLS a side, then paints it scaled to its own maximum.
function drawThumb(canvas, values) {
  const rows = values.length;
  const cols = values[0].length;
  const h = Math.min(rows, THUMB_CELLS);
  const w = Math.min(cols, THUMB_CELLS);
  const pooled = new Float32Array(h * w);
  for (let i = 0; i < rows; i++) {
    const pi = Math.floor((i * h) / rows) * w;
    const row = values[i];
    for (let j = 0; j < cols; j++) pooled[pi + Math.floor((j * w) / cols)] += row[j];
  }
  let max = 0;
  for (const v of pooled) max = Math.max(max, v);
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let p = 0; p < pooled.length; p++) {
    const k = max > 0 ? Math.min(255, Math.round((pooled[p] / max) * 255)) : 0;
    img.data[4 * p] = BLUES_LUT[3 * k];
    img.data[4 * p + 1] = BLUES_LUT[3 * k + 1];
    img.data[4 * p + 2] = BLUES_LUT[3 * k + 2];
    img.data[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// The model view: buttons at once, thumbnails painted one layer per task so the page stays responsive.
async function drawGrid() {
  const mine = state;
  const token = {};
  state.gridToken = token;
  const kind = sel.kind;
  const shape = shapeOf(kind);
  ui.grid.style.gridTemplateColumns = `auto repeat(${shape.heads}, minmax(0, 1fr))`;
  // Grouped-query attention: a labelled band over the query heads that share one key/value head.
  const kv = modelInfo(state.request.model).kv_heads;
  const group = kv && kv < shape.heads && shape.heads % kv === 0 ? shape.heads / kv : 0;
  const starts = (h) => group > 0 && h > 0 && h % group === 0;
  const cells = [];
  if (group) {
    cells.push(el("span"));
    for (let g = 0; g < kv; g++) {
      const text = `KV ${g}: H${g * group}-H${(g + 1) * group - 1}`;
      const band = el("span", { class: "grid-group", title: `Query heads ${g * group}-${(g + 1) * group - 1} share key/value head ${g}` }, text);
      band.style.gridColumn = `span ${group}`;
      cells.push(band);
    }
  }
  cells.push(el("span"));
  const pending = [];
  for (let h = 0; h < shape.heads; h++) cells.push(el("span", { class: starts(h) ? "grid-label group-start" : "grid-label" }, `H${h}`));
  for (let layer = 0; layer < shape.layers; layer++) {
    cells.push(el("span", { class: "grid-label" }, `L${layer}`));
    const row = [];
    for (let head = 0; head < shape.heads; head++) {
      const map = state.maps.get(key(kind, layer, head));
      const canvas = el("canvas");
      const on = layer === sel.layer && String(head) === sel.head;
      const button = el("button", {
        type: "button", class: ["thumb", on ? "selected" : "", starts(head) ? "group-start" : ""].filter(Boolean).join(" "),
        title: `Layer ${layer}, head ${head}`, "aria-label": `Open layer ${layer}, head ${head}`, "aria-pressed": String(on),
        disabled: !map && !state.lazy,
        dataset: { kind, layer, head, loaded: Boolean(map) },
      }, canvas);
      button.addEventListener("click", () => {
        if (ablation.active()) {
          ablation.toggle(kind, layer, head);
          return;
        }
        sel.layer = layer;
        sel.head = String(head);
        sel.picked = null;
        syncSelectors();
        drawMain();
        ui.caption.scrollIntoView({ block: "nearest" });
      });
      cells.push(button);
      if (map) row.push([canvas, map]);
    }
    pending.push(row);
  }
  ui.grid.replaceChildren(...cells);
  // Tokens, not merged words: an overview. A few thumbnails per task keep every task short.
  const thumbs = pending.flat();
  for (let i = 0; i < thumbs.length; i += 4) {
    for (const [canvas, map] of thumbs.slice(i, i + 4)) drawThumb(canvas, map.values);
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (state !== mine || state.gridToken !== token) return;
  }
}

// Per-head statistics of the open layer, computed in the maps worker once per (kind, layer, merge).
function drawStats() {
  const shape = shapeOf(sel.kind);
  const statsKey = `${sel.kind}/${sel.layer}/${ui.merge.checked}`;
  const body = ui.stats.tBodies[0];
  const rows = state.stats.get(statsKey);
  if (rows === undefined) {
    body.replaceChildren();
    if (layerMaps(sel.layer).length < shape.heads) return;
    const mine = state;
    state.stats.set(statsKey, null); // on its way
    layerStats({ answer: state.answer, kind: sel.kind, layer: sel.layer, heads: shape.heads, merge: ui.merge.checked })
      .then((found) => {
        mine.stats.set(statsKey, found);
        if (state === mine) drawStats();
      }, () => mine.stats.delete(statsKey));
    return;
  }
  if (rows === null) {
    body.replaceChildren();
    return;
  }
  const sorted = [...rows].sort((a, b) => (sel.sort === "head" ? a.head - b.head : b[sel.sort] - a[sel.sort]));
  body.replaceChildren(...sorted.map((r) => {
    const tr = el("tr", { tabIndex: 0, class: String(r.head) === sel.head ? "selected" : null, dataset: { head: r.head } },
      ...[String(r.head), r.entropy.toFixed(3), r.distance.toFixed(2), r.special.toFixed(3), r.first.toFixed(3),
        r.agreement.toFixed(2)]
        .map((t) => el("td", {}, t)));
    const open = () => {
      sel.head = String(r.head);
      sel.picked = null;
      syncSelectors();
      drawMain();
    };
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open();
    });
    return tr;
  }));
}

// Selectors from the model's shapes and `sel` (invalid wishes fall back to the defaults).
function fillSelectors() {
  const m = modelInfo(state.request.model);
  const kinds = kindsOf(m);
  ui.kind.replaceChildren(...kinds.map((k) => option(k, KIND_NAMES[k])));
  ui.kind.disabled = kinds.length < 2;
  const shape = shapeOf(sel.kind);
  ui.layer.replaceChildren(...[...Array(shape.layers).keys()].map((l) => option(l, String(l))));
  // Rollout composes a square map with itself: self-attention kinds only, and every layer loaded (not lazily).
  const aggregates = Object.entries(AGGREGATES).filter(([k]) => k !== "rollout" || (sel.kind !== "cross" && !state.lazy));
  ui.head.replaceChildren(...[...Array(shape.heads).keys()].map((h) => option(h, String(h))),
    ...aggregates.map(([k, v]) => option(k, v)));
  syncSelectors();
}

function syncSelectors() {
  ui.kind.value = sel.kind;
  ui.layer.value = String(sel.layer);
  ui.head.value = sel.head;
}

// Makes `sel` valid for the current model, preferring `wish`.
function settle(wish) {
  const m = modelInfo(state.request.model);
  const kinds = kindsOf(m);
  sel.kind = kinds.includes(wish.kind) ? wish.kind : kinds.includes("cross") ? "cross" : kinds[0];
  const shape = shapeOf(sel.kind);
  sel.layer = Number.isInteger(wish.layer) && wish.layer >= 0 && wish.layer < shape.layers ? wish.layer : defaultLayer(m, sel.kind);
  const heads = [...Array(shape.heads).keys()].map(String);
  const aggregates = Object.keys(AGGREGATES).filter((k) => k !== "rollout" || sel.kind !== "cross");
  sel.head = [...heads, ...aggregates].includes(String(wish.head)) ? String(wish.head) : "0";
  sel.picked = null;
  sel.focus = null;
}

// ---- Requests ------------------------------------------------------------------------------

function requestBody(extra) {
  const body = { model: state.request.model, text: state.request.text, ...extra };
  if (state.request.beam) body.beam = state.request.beam;
  return body;
}

async function fetchReference(signal) {
  const body = requestBody({ layers: [0], kinds: ["cross"], word_level: true, encoding: "u8", reference: "eflomal" });
  return (await postJSON("/api/attention/text", body, { signal })).reference;
}

async function run(wish = {}) {
  const text = ui.text.value;
  const { signal, id } = latest.next();
  referenceRequest.cancel();
  clearResult();
  clearError(ui.error);
  if (!text.trim()) {
    showError(ui.error, "Type a sentence first.");
    saveUrl();
    ui.text.focus();
    return;
  }
  const m = modelInfo(ui.model.value);
  state = {
    request: { model: ui.model.value, text, beam: beamOffered() ? Number(ui.beam.value) : null }, answer: id,
    response: null, maps: new Map(), complete: false, rollout: new Map(), stats: new Map(), reference: null,
    summary: null, gridToken: null, views: new Map(),
  };
  saveUrl();
  setBusy(ui.form, true);
  ui.status.textContent = `Running ${m ? m.id : ui.model.value}…`;
  try {
    const kinds = kindsOf(m);
    let first;
    if (kinds.length) {
      settle(wish);
      first = await fetchMaps("/api/attention/text",
        requestBody({ layers: [sel.layer], kinds: [sel.kind], encoding: "f16" }), { signal, answer: id });
    } else {
      first = await fetchMaps("/api/attention/text", requestBody({ encoding: "u8" }), { signal, answer: id });
    }
    if (!latest.current(id)) return;
    if (first.received) performance.mark("attnviz:response", { startTime: first.received - performance.timeOrigin });
    if (!showFirst(first, m, kinds)) return;
    const generated = first.output_tokens ? `, ${first.output_tokens.length} generated` : "";
    const n = first.input_tokens.length;
    const [rows, cols] = first.maps[0].shape;
    if (kindsOf(m).reduce((sum, k) => sum + shapeOf(k).layers * shapeOf(k).heads, 0) * rows * cols > ALL_LAYERS_CELLS) {
      Object.assign(state, { lazy: true, signal, loading: new Set(), rows });
      if (sel.head === "rollout") sel.head = "mean";
      fillSelectors();
      drawGrid();
      setBusy(ui.form, false);
      state.summary = `${n} tokens${generated}: a long input, so each layer loads when it is opened (model view or layer menu).`;
      ui.status.textContent = state.summary;
      drawMain();
      return;
    }
    ui.status.textContent = `${n} tokens${generated}; loading every layer for the model view…`;
    const all = await fetchMaps("/api/attention/text",
      requestBody({ encoding: n <= EXACT_UP_TO ? "f16" : "u8" }), { signal, answer: id });
    if (!latest.current(id)) return;
    addMaps(all.maps);
    state.complete = true;
    drawGrid();
    // The open view was drawn from the first answer unless it needed every layer (rollout, a
    // layer the first answer did not hold): draw it now that they are here.
    const drawn = ui.heatmap.dataset.kind === sel.kind && ui.heatmap.dataset.layer === String(sel.layer)
      && ui.heatmap.dataset.head === sel.head;
    setBusy(ui.form, false);
    state.summary = `${n} tokens${generated}, ${state.maps.size} maps.`;
    ui.status.textContent = state.summary;
    if (drawn) markThumbs();
    else drawMain();
    // Rollout of the square (self-attention) kinds starts now, off the main thread, ready for a switch.
    for (const k of kindsOf(m)) if (k !== "cross") rolloutFor(k);
    if (ui.reference.checked && referenceOffered()) await loadReference();
  } catch (err) {
    if (isAbort(err) || !latest.current(id)) return;
    failed(err);
  }
}

// Draws the first answer of a request (or a saved result); false when it holds no maps (then done).
function showFirst(first, m, kinds) {
  state.response = first;
  addMaps(first.maps);
  ui.result.hidden = false;
  ui.output.hidden = first.output_text === null;
  ui.outputText.textContent = first.output_text ?? "";
  const notes = [first.note, first.saved && first.saved.note].filter(Boolean);
  ui.note.hidden = !notes.length;
  ui.note.textContent = notes.join(" ");
  const hasMaps = first.maps.length > 0;
  for (const part of [ui.controls, ui.views, ui.statsBox]) part.hidden = !hasMaps;
  const generated = first.output_tokens ? `, ${first.output_tokens.length} generated` : "";
  if (!hasMaps) {
    setBusy(ui.form, false);
    ui.status.textContent = `${first.input_tokens.length} tokens${generated}, no attention maps.`;
    saveUrl();
    return false;
  }
  // Single-map models (one layer, one head) have nothing for a model view to add.
  const oneMap = kinds.every((k) => { const s = m.attention_shapes.find((x) => x.kind === k); return s.layers * s.heads === 1; });
  ui.modelView.hidden = oneMap;
  ui.views.classList.toggle("single", oneMap);
  ui.referenceControl.hidden = !referenceOffered();
  ablation.prepare();
  fillSelectors();
  drawMain();
  return true;
}

// Opens a saved result (/r/<id> lands here as ?result=<id>): the stored answer is drawn as it was saved,
// nothing is recomputed; the form shows the saved request, and a note says when the model changed since.
async function openSaved(resultId, wish = {}) {
  const { signal, id } = latest.next();
  referenceRequest.cancel();
  clearResult();
  clearError(ui.error);
  setBusy(ui.form, true);
  ui.status.textContent = "Opening the saved result…";
  try {
    const first = await fetchMaps(`/api/results/${encodeURIComponent(resultId)}`, null, { signal, answer: id });
    if (!latest.current(id)) return;
    const saved = first.saved;
    const m = modelInfo(saved.request.model);
    if (!m) throw new Error(`This result was saved with ${saved.request.model}, which this server no longer offers.`);
    ui.model.value = m.id;
    ui.text.value = saved.request.text;
    if (saved.request.beam) ui.beam.value = String(saved.request.beam);
    describeModel();
    state = {
      request: { model: m.id, text: saved.request.text, beam: saved.request.beam ?? null }, answer: id,
      response: null, maps: new Map(), complete: true, rollout: new Map(), stats: new Map(), reference: null,
      summary: null, gridToken: null, views: new Map(), savedId: saved.id,
    };
    const kinds = kindsOf(m);
    if (kinds.length) settle(wish);
    if (!showFirst(first, m, kinds)) return;
    drawGrid();
    for (const k of kinds) if (k !== "cross") rolloutFor(k);
    setBusy(ui.form, false);
    const when = new Date(saved.created * 1000).toISOString().slice(0, 16).replace("T", " ");
    state.summary = `Saved result of ${when} UTC: ${first.input_tokens.length} tokens, ${state.maps.size} maps.`;
    ui.status.textContent = state.summary;
    saveUrl();
  } catch (err) {
    if (isAbort(err) || !latest.current(id)) return;
    failed(err.status === 404 ? new Error("No saved result with this id: it was deleted, or the link is mistyped.") : err);
  }
}

// Long inputs: fetches one layer of the open kind (all heads), then draws again; once per layer and answer.
async function loadLayer(layer) {
  const mine = state;
  const wanted = `${sel.kind}/${layer}`;
  if (!mine || !mine.lazy || mine.loading.has(wanted)) return;
  mine.loading.add(wanted);
  const encoding = mine.rows <= 512 ? "f16" : "u8";
  try {
    const got = await fetchMaps("/api/attention/text", requestBody({ layers: [layer], kinds: [sel.kind], encoding }),
      { signal: mine.signal, answer: mine.answer });
    if (state !== mine) return;
    addMaps(got.maps);
    drawGrid();
    drawMain();
  } catch (err) {
    mine.loading.delete(wanted);
    if (isAbort(err) || state !== mine) return;
    showError(ui.error, message(err));
  }
}

async function saveResult() {
  if (!state || !state.response) return;
  const mine = state;
  ui.save.disabled = true;
  ui.status.textContent = "Saving…";
  try {
    const body = { model: mine.request.model, text: mine.request.text };
    if (mine.request.beam) body.beam = mine.request.beam;
    const saved = await postJSON("/api/results/text", body);
    if (state !== mine) return;
    mine.savedId = saved.id;
    saveUrl();
    const view = new URLSearchParams({ kind: sel.kind, layer: String(sel.layer), head: sel.head, view: sel.view });
    if (ui.merge.checked) view.set("word_level", "1");
    showSaved(ui, saved, view);
  } catch (err) {
    if (state === mine) showError(ui.error, `Saving failed: ${message(err)}`);
  } finally {
    ui.save.disabled = false;
  }
}

async function loadReference() {
  if (!state || state.reference || !referenceOffered()) return;
  const { signal, id } = referenceRequest.next();
  const mine = state;
  ui.status.textContent = "Aligning with eflomal…";
  try {
    const found = await fetchReference(signal);
    if (!referenceRequest.current(id) || state !== mine) return;
    state.reference = found;
    ui.status.textContent = "";
    drawMain();
  } catch (err) {
    if (isAbort(err) || state !== mine) return;
    ui.status.textContent = "";
    showError(ui.error, message(err));
  }
}

// ---- Events --------------------------------------------------------------------------------

function describeModel() {
  const m = modelInfo(ui.model.value);
  ui.modelNote.textContent = m ? `${m.description}. ${m.notes}` : "";
  ui.sinkNote.hidden = !(m && m.task === "decoder");
  ui.beamField.hidden = !beamOffered();
}

ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  run(state && state.response ? { kind: sel.kind, layer: sel.layer, head: sel.head } : {});
});
ui.text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.form.requestSubmit();
  }
});
// A new model (or beam) is a new request: the old result goes at once, then the sentence runs again.
function rerun() {
  describeModel();
  if (ui.text.value.trim()) run({});
  else {
    latest.cancel();
    clearResult();
    saveUrl();
  }
}
ui.model.addEventListener("change", rerun);
ui.beam.addEventListener("change", rerun);
ui.kind.addEventListener("change", () => {
  settle({ kind: ui.kind.value, layer: sel.layer, head: sel.head });
  fillSelectors();
  drawMain();
  if (state && state.complete) drawGrid();
});
ui.layer.addEventListener("change", () => {
  sel.layer = Number(ui.layer.value);
  sel.picked = null;
  drawMain();
});
ui.head.addEventListener("change", () => {
  sel.head = ui.head.value;
  sel.picked = null;
  drawMain();
});
ui.merge.addEventListener("change", () => {
  sel.focus = null;
  drawMain(); // the model view's thumbnails stay token-level
});
ui.reference.addEventListener("change", async () => {
  if (ui.reference.checked) await loadReference();
  drawMain();
});
for (const radio of document.querySelectorAll('input[name="view"]')) {
  radio.addEventListener("change", () => {
    sel.view = document.querySelector('input[name="view"]:checked').value;
    drawMain();
  });
}
for (const button of ui.stats.querySelectorAll("th button")) {
  button.addEventListener("click", () => {
    sel.sort = button.dataset.sort;
    drawStats();
  });
}
ui.save.addEventListener("click", saveResult);

// ---- Explain and ablation (text_explain.js) ------------------------------------------------------

const pageState = () => ({
  model: state ? modelInfo(state.request.model) : null, request: state ? state.request : null,
  response: state ? state.response : null, mapOf: (kind, layer, head) => state && state.maps.get(key(kind, layer, head)),
});
const explain = createExplain({ ui, current: pageState, onStatus: (text) => { if (text) ui.status.textContent = text; } });
const ablation = createAblation({
  ui, current: pageState, onStatus: (text) => { if (text) ui.status.textContent = text; },
  onPick: (kind, layer, head) => {
    if (kind !== sel.kind) settle({ kind, layer, head: String(head) });
    else {
      sel.layer = layer;
      sel.head = String(head);
    }
    sel.picked = null;
    fillSelectors();
    drawMain();
    if (state && state.complete) drawGrid();
  },
});
ui.explainRun.addEventListener("click", () => {
  if (state && state.response) {
    state.explained = null;
    drawMain();
  }
});
ui.explainRow.addEventListener("change", () => drawMain());
ui.explainCompare.addEventListener("keydown", (e) => {
  if (e.key === "Enter") {
    e.preventDefault();
    ui.explainRun.click();
  }
});
ui.ablateMode.addEventListener("change", () => ablation.sync());
ui.ablateRun.addEventListener("click", () => ablation.run(sel));
ui.ablateClear.addEventListener("click", () => {
  ablation.reset();
});
ui.rankRun.addEventListener("click", () => ablation.rank());

// ---- Export --------------------------------------------------------------------------------

const exportBase = (map, what) => `attnviz-${state.request.model}-${map.kind}-L${map.layer}-${what}`;

// The heatmap as shown (merged into words when it is): a figure of one map.
function heatmapFigure(map) {
  const head = headLabel(map.head);
  const caption = captionOf({ model: state.request.model, input: state.request.text, kind: KIND_NAMES[map.kind], layer: map.layer, head });
  const rows = map.values.map((r) => Array.from(r));
  return mapFigure({
    name: exportBase(map, String(map.head).replace(/\W+/g, "")), z: map.values, x: map.colTokens, y: map.rowTokens,
    title: `Layer ${map.layer}, ${head} (${KIND_NAMES[map.kind]})`, caption,
    json: {
      model: state.request.model, text: state.request.text, caption, word_level: ui.merge.checked,
      map: { kind: map.kind, layer: map.layer, head: map.head, shape: [rows.length, rows[0] ? rows[0].length : 0],
        row_tokens: map.rowTokens, col_tokens: map.colTokens, values: rows },
    },
  });
}

// The head view as drawn: its SVG (tokens as text, the selected query only when one is isolated), and the
// drawn heads' maps as data (one array per head).
function headViewFigure(map) {
  const node = ui.headLines.querySelector("svg");
  const heads = layerMaps(sel.layer).filter((m) => sel.picked.includes(m.head))
    .map((m) => ({ head: m.head, ...display(m.values, m.row_tokens, m.col_tokens) }));
  if (!node || !heads.length) return null;
  const names = heads.map((h) => h.head);
  const headText = names.length === 1 ? `head ${names[0]}` : `heads ${names.join(", ")}`;
  const caption = captionOf({ model: state.request.model, input: state.request.text, kind: KIND_NAMES[map.kind], layer: map.layer, head: headText });
  const [, , width, height] = node.getAttribute("viewBox").split(" ").map(Number);
  const { rowTokens, colTokens } = heads[0];
  return {
    name: exportBase(map, `heads${names.join("-")}`),
    svg: () => framedSvg({ body: serialiseSvg(node, width, height), width, height,
      title: `Head view, layer ${map.layer}, ${headText} (${KIND_NAMES[map.kind]})`, caption }),
    csv: () => mapsCsv(["head"], heads.map((h) => ({ keys: [h.head], z: h.values, y: h.rowTokens })), colTokens),
    npz: () => arraysNpz(heads.map((h) => [`head_${h.head}`, h.values]), [["row_tokens", rowTokens], ["col_tokens", colTokens]]),
    json: () => ({
      model: state.request.model, text: state.request.text, caption, word_level: ui.merge.checked,
      maps: heads.map((h) => ({ kind: map.kind, layer: map.layer, head: h.head, shape: [h.values.length, colTokens.length],
        row_tokens: h.rowTokens, col_tokens: h.colTokens, values: h.values.map((r) => Array.from(r)) })),
    }),
  };
}

// What the main view shows now, as a figure to download (null before a result is drawn).
function mainFigure() {
  const map = state && state.response ? selectedMap() : null;
  if (!map) return null;
  if (sel.view === "explain") {
    const data = explain.figureData();
    if (!data) return null;
    const caption = captionOf({ model: state.request.model, input: state.request.text, kind: `explain "${data.word}"`, layer: map.layer, head: headLabel(map.head) });
    const maxZ = Math.max(1e-9, ...data.z.flat());
    return mapFigure({ name: `attnviz-${state.request.model}-explain`, z: data.z, x: data.x, y: data.y,
      title: `"${data.word}": attention and attributions (shares of each row's total)`, caption, zmax: maxZ, json: data.json });
  }
  return sel.view === "heads" ? headViewFigure(map) : heatmapFigure(map);
}

// The model view: every layer and head of the selected kind, token by token (null until all are loaded).
function gridFigure() {
  if (!state || !state.response || !state.complete) return null;
  const kind = sel.kind;
  const shape = shapeOf(kind);
  const cells = [];
  for (let layer = 0; layer < shape.layers; layer++) {
    for (let head = 0; head < shape.heads; head++) {
      const map = state.maps.get(key(kind, layer, head));
      if (map) cells.push({ layer, head, z: map.values, y: map.row_tokens, x: map.col_tokens });
    }
  }
  if (!cells.length) return null;
  const { x, y } = cells[0];
  const caption = captionOf({ model: state.request.model, input: state.request.text, kind: KIND_NAMES[kind], layer: "all", head: "every head" });
  return {
    name: `attnviz-${state.request.model}-${kind}-model-view`,
    svg: () => gridSvg({ cells, layers: shape.layers, heads: shape.heads,
      title: `Model view: ${KIND_NAMES[kind]}, every layer (row) and head (column), each scaled to its maximum`, caption }),
    csv: () => mapsCsv(["layer", "head"], cells.map((c) => ({ keys: [c.layer, c.head], z: c.z, y: c.y })), x),
    npz: () => arraysNpz(cells.map((c) => [`${kind}_L${c.layer}_H${c.head}`, c.z]), [["row_tokens", y], ["col_tokens", x]]),
    json: () => ({
      model: state.request.model, text: state.request.text, caption,
      maps: cells.map((c) => ({ kind, layer: c.layer, head: c.head, shape: [c.z.length, x.length], row_tokens: c.y,
        col_tokens: c.x, values: c.z.map((r) => Array.from(r)) })),
    }),
  };
}

const exportFailed = (text) => showError(ui.error, text);
wireExport($("#export-main"), mainFigure, exportFailed);
wireExport($("#export-grid"), gridFigure, exportFailed);
$("#copy-link").addEventListener("click", () => {
  saveUrl();
  copyLink(ui.status);
});

async function start() {
  const wish = readState(SCHEMA);
  if (wish.text !== null) ui.text.value = wish.text;
  ui.merge.checked = wish.word_level;
  ui.reference.checked = wish.reference;
  sel.view = ["heads", "explain"].includes(wish.view) ? wish.view : "heatmap";
  document.querySelector(`input[name="view"][value="${sel.view}"]`).checked = true;
  if (wish.beam !== null) ui.beam.value = String(wish.beam);
  try {
    models = await fillPicker(ui.model, ["encoder", "decoder", "translation"], wish.model, ui.unavailable);
  } catch (err) {
    showError(ui.error, message(err));
    return;
  }
  describeModel();
  if (![...ui.beam.options].some((o) => o.value === ui.beam.value)) ui.beam.value = "1";
  if (wish.result) openSaved(wish.result, { kind: wish.kind, layer: wish.layer, head: wish.head });
  else if (wish.text !== null) run({ kind: wish.kind, layer: wish.layer, head: wish.head });
}
start();
