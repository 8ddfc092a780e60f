// Evaluation page: every report `make eval` and `make bench` wrote. Translation on the Bible test
// split beside the everyday test set, attention AER, the captioners, whether attention explains the
// outputs (faithfulness), and Marian's parity with its native engine. A report not written yet is said
// in its own section; text is set as text only.

import { getJSON } from "../lib/api.js";
import { $, el, option, showError } from "../lib/dom.js";
import { plot } from "../lib/heatmap.js";
import { plotlyText } from "../lib/colours.js";
import { readState, writeState } from "../lib/url_state.js";

const BUCKETS = ["1-10", "11-20", "21-30", "31+"];
const ATTENTION_COLOUR = "#1f5fa8";
const EFLOMAL_COLOUR = "#8a94a3";
const fmt = (value, digits) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));
const cell = (tag, text, attrs = {}) => el(tag, attrs, text);

function drawScores(report, everyday) {
  $("#scores-table").tBodies[0].replaceChildren(...Object.entries(report.models).map(([id, m]) => {
    const tr = el("tr", { dataset: { model: id } }, cell("th", id, { scope: "row" }),
      cell("td", fmt(m.bleu, 2)), cell("td", fmt(m.chrf, 2)), cell("td", fmt(m.beam5 ? m.beam5.bleu : null, 2)),
      cell("td", fmt(m.aer, 3)), cell("td", fmt(m.heads ? m.heads.best_head.aer : null, 3)));
    if (m.heads) tr.cells[5].title = `${m.heads.best_head.readout}, chosen on the dev split's links`;
    return tr;
  }));
  const s = report.splits;
  $("#splits").textContent = `Bible verses: ${s.train} train, ${s.dev} dev, ${s.test} test. `
    + "BLEU and chrF: greedy decoding (sacreBLEU); beam 5 from each model's training metrics where present.";
}

// The everyday test set beside the Bible one: the same models (and Apertium), both BLEU and chrF.
function drawEveryday(report, everyday) {
  const systems = everyday.systems || {};
  const bible = report ? report.models : {};
  $("#everyday-table").tBodies[0].replaceChildren(...Object.entries(systems).map(([id, e]) => {
    const b = bible[id] || {};
    return el("tr", { dataset: { model: id } }, cell("th", id, { scope: "row" }),
      cell("td", fmt(b.bleu, 2)), cell("td", fmt(e.bleu, 2)), cell("td", fmt(b.chrf, 2)), cell("td", fmt(e.chrf, 2)));
  }));
  $("#everyday-note").textContent = `${everyday.pairs} everyday pairs (${Object.entries(everyday.pairs_by_source || {})
    .map(([k, v]) => `${k} ${v}`).join(", ")}) from ${everyday.test_set}. ${everyday.protocol || ""}`;
}

function lengthPlot(target, systems, counts, label) {
  const labels = BUCKETS.map((b) => (counts[b] === undefined ? `${b} words` : `${b} words (${counts[b]})`));
  const traces = Object.entries(systems).filter(([, m]) => m.bleu_by_length).map(([id, m]) => ({
    type: "bar", name: plotlyText(id), x: labels, y: BUCKETS.map((b) => m.bleu_by_length[b]),
    hovertemplate: `${plotlyText(id)}<br>%{x}: BLEU %{y:.2f}<extra></extra>`,
  }));
  return plot(target, traces, {
    barmode: "group", height: 400, margin: { l: 60, r: 10, t: 30, b: 60 },
    title: { text: label, font: { size: 14 } },
    yaxis: { title: { text: "BLEU" }, rangemode: "tozero", automargin: true },
    xaxis: { title: { text: "English source length" }, automargin: true },
    legend: { orientation: "h", y: -0.3 },
  });
}

function drawAer(report) {
  const bars = Object.entries(report.models)
    .filter(([, m]) => m.aer !== null && m.aer !== undefined)
    .flatMap(([id, m]) => [
      { label: m.heads ? `${id} heads averaged` : `${id} attention`, aer: m.aer, detail: m.alignment, colour: ATTENTION_COLOUR },
      ...(m.heads ? [{ label: `${id} best head (${m.heads.best_head.readout})`, aer: m.heads.best_head.aer,
        detail: m.heads.best_head, colour: ATTENTION_COLOUR }] : []),
    ]);
  const directions = (report.eflomal && report.eflomal.directions) || {};
  for (const [name, d] of Object.entries(directions)) {
    if (name === "forward" || name === "grow-diag-final-and") bars.push({ label: `eflomal ${name}`, aer: d.aer, detail: d, colour: EFLOMAL_COLOUR });
  }
  if (!Object.keys(directions).length && report.eflomal) {
    bars.push({ label: "eflomal", aer: report.eflomal.aer, detail: null, colour: EFLOMAL_COLOUR });
  }
  // Full labels: the axis grows to fit them (automargin) instead of cutting the first one.
  const labels = bars.map((b) => plotlyText(b.label));
  const hover = bars.map((b) => (b.detail ? `precision ${fmt(b.detail.precision, 3)}, recall ${fmt(b.detail.recall, 3)}` : ""));
  $("#aer-plot").dataset.bars = String(bars.length);
  const ref = report.reference_links;
  $("#aer-note").textContent = ref
    ? `${ref.links} reference links between ${ref.spanish_words_scored} Spanish and ${ref.english_words_scored} `
      + "English words (lemma level, many-to-many). With one link per Spanish word, recall is at most "
      + `${fmt(ref.max_recall_one_link_per_spanish_word, 3)}, so every AER stays high: compare the bars with `
      + "each other. Hover a bar for precision and recall."
    : "";
  return plot($("#aer-plot"), [{
    type: "bar", x: labels, y: bars.map((b) => b.aer), marker: { color: bars.map((b) => b.colour) },
    text: bars.map((b) => fmt(b.aer, 3)), textposition: "outside", customdata: hover, cliponaxis: false,
    hovertemplate: "%{x}: AER %{y:.3f}<br>%{customdata}<extra></extra>",
  }], {
    height: 460, margin: { l: 70, r: 20, t: 20, b: 40 },
    yaxis: { title: { text: "AER (lower is better)" }, range: [0, 1.05], automargin: true },
    xaxis: { tickangle: -30, automargin: true },
  });
}

function drawProtocol(report) {
  $("#protocol").replaceChildren(...Object.entries(report.protocol || {})
    .flatMap(([key, text]) => [cell("dt", key.replace(/_/g, " ")), cell("dd", String(text))]));
  $("#notes").replaceChildren(...(report.notes || []).map((n) => cell("li", String(n))));
}

function drawCaptions(report) {
  const t = report.targets || {};
  $("#captions-table").tBodies[0].replaceChildren(...(report.results || []).map((r) => el("tr", { dataset: { model: r.model } },
    cell("th", r.model, { scope: "row" }), cell("td", String(r.test_scenes ?? "–")), cell("td", fmt(r.bleu4, 2)),
    cell("td", fmt(r.exact_match, 3)), cell("td", fmt(r.object_precision, 3)), cell("td", fmt(r.object_recall, 3)),
    cell("td", fmt(r.pointing, 3)), cell("td", fmt(r.pointing_chance, 3)))));
  $("#captions-note").textContent = `Targets: BLEU-4 ${fmt(t.bleu4, 1)}, pointing ${fmt(t.pointing, 2)}. `
    + "Pointing: share of object words whose attention peak lies on that object (chance: the object's share of "
    + `the image). Written by: ${report.command || "make eval"}.`;
}

function drawRealPhotos(report) {
  const split = (report.splits || {}).eval || {};
  const share = (m) => (m.photos ? `${m.named}/${m.photos} (${fmt(100 * m.named_share, 0)}%)` : "–");
  const pointing = (m) => (m.pointing === undefined || m.pointing === null ? "–" : `${m.pointed}/${m.named}`);
  const rows = [
    ...Object.entries(split.models || {}).map(([id, m]) => [id, m]),
    ["ImageNet classifier (EfficientNet-Lite0 top-1)", split.classifier || {}],
    ["nearest prototype (DINOv2 class token)", split.prototype_probe || {}],
  ];
  $("#real-photos-table").tBodies[0].replaceChildren(...rows.map(([name, m]) => el("tr", { dataset: { system: name } },
    cell("th", name, { scope: "row" }), cell("td", String(m.photos ?? "–")), cell("td", share(m)), cell("td", pointing(m)))));
  const t = report.targets || {};
  $("#real-photos-note").textContent = `Whole photos shipped in packages, never used to train or choose anything; `
    + `${split.in_vocabulary ?? "–"} of ${split.photos ?? "–"} show a main object the captioners know. Targets: the best `
    + `captioner names ${fmt(100 * (t.named ?? 0), 0)}% and points inside the box for ${fmt(100 * (t.pointing ?? 0), 0)}% `
    + `of those. Written by: ${report.command || "make eval"}.`;
}

// Every evaluation photo with the best captioner's caption; each links to the image page with that photo.
function drawGallery(report) {
  const photos = report.photos || [];
  const status = (p) => (p.named ? "yes: named" : p.in_vocabulary ? "no: missed" : "yes: outside the vocabulary");
  $("#gallery-table").tBodies[0].replaceChildren(...photos.map((p) => {
    const href = `/image?model=${encodeURIComponent(report.captioner)}&sample=${encodeURIComponent(p.id)}`;
    return el("tr", { dataset: { photo: p.id, offered: String(Boolean(p.offered)) } },
      el("th", { scope: "row" }, el("a", { href }, p.title || p.id)), cell("td", p.expect, { class: "text" }),
      cell("td", p.caption || "(no caption)", { class: "text" }), cell("td", status(p), { class: "text" }));
  }));
  const known = photos.filter((p) => p.in_vocabulary);
  const named = known.filter((p) => p.named).length;
  const scenes = (report.scenes || {}).offered || [];
  $("#gallery-note").textContent = `Captioner: ${report.captioner}. It names ${named} of the ${known.length} photos `
    + `whose main object is in its vocabulary; ${scenes.length} held-out scenes whose every object it names are `
    + `offered beside them. Written by: ${report.command || "python -m models.evaluate.gallery"}.`;
}

function drawParity(report) {
  $("#parity-table").tBodies[0].replaceChildren(...report.marian.map((r) => el("tr", { dataset: { direction: r.direction } },
    cell("th", r.direction, { scope: "row" }), cell("td", String(r.sentences)), cell("td", String(r.identical)),
    cell("td", fmt(r.ours_ms_per_sentence, 1)), cell("td", fmt(r.native_ms_per_sentence, 1)),
    cell("td", fmt(r.latency_ratio_median, 2)))));
  $("#parity-note").textContent = report.machine ? `Machine: ${report.machine}. Written by make bench.` : "";
}

// --- Does attention explain the output? (reports/faithfulness.json) ---

const METHODS = ["integrated_gradients", "input_x_gradient", "feature_ablation"];
const ORDER_NAMES = {
  integrated_gradients: "integrated gradients",
  input_x_gradient: "input × gradient",
  feature_ablation: "occlusion (feature ablation)",
  random: "random order",
};
const ORDER_STYLE = {
  integrated_gradients: { color: "#b3261e", dash: "solid" },
  input_x_gradient: { color: "#e08a00", dash: "dash" },
  feature_ablation: { color: "#6b3fa0", dash: "dashdot" },
  random: { color: "#8a94a3", dash: "dot" },
};
const ATTENTION_COLOURS = ["#1f5fa8", "#3a8fd9", "#0b7a75", "#5aa469"];
const STATE = { faithfulness: { type: "string", default: null } };

// "attention mean L1" -> "attention: cross-attention of layer 1, mean over 8 heads" (the report's own words).
function orderName(model, order) {
  if (!order.startsWith("attention ")) return ORDER_NAMES[order] || order;
  const readout = order.slice("attention ".length);
  return `attention: ${(model.readouts || {})[readout] || readout}`;
}

// The attention order with the largest comprehensiveness area (null for a model without attention).
function bestAttention(model) {
  const orders = Object.keys(model.deletion || {}).filter((k) => k.startsWith("attention "));
  if (!orders.length) return null;
  return orders.reduce((a, b) => (model.deletion[b].comprehensiveness_auc > model.deletion[a].comprehensiveness_auc ? b : a));
}

function drawFaithfulnessTables(report) {
  const models = Object.entries(report.models).filter(([, m]) => m.rows);
  $("#faithfulness-table").tBodies[0].replaceChildren(...models.map(([id, m]) => {
    const best = bestAttention(m);
    const area = (order, key) => (order ? fmt(m.deletion[order][key], 2) : "–");
    const tr = el("tr", { dataset: { model: id } }, cell("th", id, { scope: "row" }),
      cell("td", String(m.sentences)), cell("td", String(m.rows)),
      cell("td", `${fmt(100 * m.ig_completeness_rate, 1)}%`),
      cell("td", area(best, "comprehensiveness_auc")), cell("td", area("integrated_gradients", "comprehensiveness_auc")),
      cell("td", area("random", "comprehensiveness_auc")), cell("td", area(best, "sufficiency_auc")),
      cell("td", area("integrated_gradients", "sufficiency_auc")), cell("td", area("random", "sufficiency_auc")));
    if (best) tr.cells[4].title = orderName(m, best);
    return tr;
  }));
  $("#agreement-table").tBodies[0].replaceChildren(...models.flatMap(([id, m]) => {
    const readouts = [...new Set(Object.keys(m.agreement).map((k) => k.split(" | ")[0]))];
    return readouts.map((readout) => {
      const figure = (method, key) => fmt((m.agreement[`${readout} | ${method}`] || {})[key], 2);
      return el("tr", { dataset: { model: id, readout } }, cell("th", id, { scope: "row" }),
        cell("td", (m.readouts || {})[readout] || readout, { class: "text" }),
        ...METHODS.map((method) => cell("td", figure(method, "spearman"))),
        ...METHODS.map((method) => cell("td", figure(method, "top_k_overlap"))));
    });
  }));
}

// Both deletion curves of one model: one line per order, attention readouts in blues.
async function drawCurves(report, id) {
  const m = report.models[id];
  const orders = Object.keys(m.deletion);
  let blue = 0;
  const style = (order) => (order.startsWith("attention ")
    ? { color: ATTENTION_COLOURS[blue++ % ATTENTION_COLOURS.length], dash: "solid" }
    : ORDER_STYLE[order] || { color: "#333", dash: "solid" });
  const styles = Object.fromEntries(orders.map((o) => [o, style(o)]));
  for (const [key, target, title, axis] of [
    ["comprehensiveness", "#comprehensiveness-plot", "Comprehensiveness: the top inputs removed (higher = better)",
      "fall in log-probability"],
    ["sufficiency", "#sufficiency-plot", "Sufficiency: only the top inputs kept (lower = better)",
      "fall in log-probability"],
  ]) {
    const traces = orders.map((order) => {
      const y = m.deletion[order][`${key}_curve`];
      const name = plotlyText(orderName(m, order));
      return {
        type: "scatter", mode: "lines+markers", name, y, x: y.map((_, i) => i / (y.length - 1)),
        line: { color: styles[order].color, dash: styles[order].dash, width: 2 },
        hovertemplate: `${name}<br>%{x:.0%} of the inputs: %{y:.2f}<extra></extra>`,
      };
    });
    const node = $(target);
    node.dataset.traces = String(traces.length);
    await plot(node, traces, {
      height: 380, margin: { l: 70, r: 20, t: 40, b: 50 },
      title: { text: `${plotlyText(id)}: ${title}`, font: { size: 14 } },
      xaxis: { title: { text: key === "sufficiency" ? "fraction of the inputs removed (the rest kept)"
        : "fraction of the inputs removed, top-ranked first" }, tickformat: ".0%", range: [0, 1] },
      yaxis: { title: { text: axis }, automargin: true, zeroline: true },
      legend: { orientation: "h", y: -0.25 },
    });
  }
  $("#faithfulness-note").textContent = `${id}: ${m.sentences} inputs, ${m.rows} explained words; `
    + `integrated gradients complete within 5% on ${fmt(100 * m.ig_completeness_rate, 1)}% of them. `
    + (m.cpu_seconds_per_input ? `About ${fmt(m.cpu_seconds_per_input, 1)} s of CPU per input on one thread. ` : "")
    + `Settings: ${report.settings_text || ""}`;
}

async function drawFaithfulness(report) {
  const ids = Object.entries(report.models).filter(([, m]) => m.rows).map(([id]) => id);
  $("#faithfulness-answer").textContent = report.answer || "";
  drawFaithfulnessTables(report);
  const select = $("#curve-model");
  select.replaceChildren(...ids.map((id) => option(id, id)));
  const wanted = readState(STATE).faithfulness;
  select.value = ids.includes(wanted) ? wanted : ids[0] || "";
  select.onchange = async () => {
    writeState({ faithfulness: select.value });
    await drawCurves(report, select.value);
  };
  if (select.value) await drawCurves(report, select.value);
}

// Loads one report into its section; a missing report is said there, not as a page error.
async function section(path, draw, where) {
  try {
    const report = await getJSON(path);
    await draw(report);
    return report;
  } catch (err) {
    showError($(where), err.message);
    return null;
  }
}

// A report not written yet: its section says how to write it (the page asks only for written ones).
function missing(where, name, writer) {
  showError($(where), `No ${name} report yet: run \`${writer}\` to write it.`);
}

async function main() {
  let have = {};
  try {
    have = await getJSON("/api/reports");
  } catch (err) {
    showError($("#eval-error"), err.message);
  }
  let report = null;
  try {
    report = await getJSON("/api/reports/translation");
  } catch (err) {
    showError($("#eval-error"), err.message);
  }
  const everyday = have.everyday ? await getJSON("/api/reports/everyday").catch(() => null) : null;
  if (everyday) drawEveryday(report, everyday);
  else missing("#everyday-error", "everyday test set", "make eval");
  if (report) {
    drawScores(report, everyday);
    await lengthPlot($("#length-plot"), report.models, report.splits.test_by_length || {}, "Bible test verses");
    if (everyday) await lengthPlot($("#everyday-length-plot"), everyday.systems, everyday.bucket_sizes || {}, "Everyday test set");
    $("#everyday-length-plot").hidden = !everyday;
    await drawAer(report);
    drawProtocol(report);
  }
  if (have.captions) await section("/api/reports/captions", drawCaptions, "#captions-error");
  else missing("#captions-error", "captioner", "make eval");
  if (have["real-photos"]) await section("/api/reports/real-photos", drawRealPhotos, "#real-photos-error");
  else missing("#real-photos-error", "real-photo", "make eval");
  if (have.gallery) await section("/api/reports/gallery", drawGallery, "#gallery-error");
  else missing("#gallery-error", "gallery", "make eval");
  if (have.faithfulness) await section("/api/reports/faithfulness", drawFaithfulness, "#faithfulness-error");
  else missing("#faithfulness-error", "faithfulness", "make eval");
  if (have["marian-parity"]) await section("/api/reports/marian-parity", drawParity, "#parity-error");
  else missing("#parity-error", "Marian parity", "make bench");
  const n = report ? Object.keys(report.models).length : 0;
  const runtime = report && report.runtime_seconds !== undefined ? ` (written in ${report.runtime_seconds} s)` : "";
  $("#eval-status").textContent = report ? `${n} model${n === 1 ? "" : "s"} evaluated ${runtime}.` : "";
  document.body.dataset.evalReady = "true";
}

main();
