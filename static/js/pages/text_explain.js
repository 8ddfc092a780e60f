// The text page's answers to "does attention explain the output?": the Explain view (for one output word,
// the attention row beside each Captum attribution row on the same token axis and colour scale, their
// agreement, and the word's deletion curves), head ablation from the model view (heads clicked off, the new
// output and a difference map against the unablated run), and the "most important heads" table (every
// head switched off alone, ranked by how far the output's log-probability moves). Everything is asked of
// the server (POST /api/attribution/text, /api/attribution/heads, /api/attention/text with "ablate");
// tokens are only ever set as text.

import { ApiError, Latest, isAbort, postJSON } from "../lib/api.js";
import { el } from "../lib/dom.js";
import { drawDifference, drawHeatmap, purge } from "../lib/heatmap.js";
import { combine, decodeMap, maxAbs } from "../lib/math.js";

export const METHODS = [ // [API name, name in tables, short row label]
  ["integrated_gradients", "integrated gradients (32 steps; 128 when 32 miss completeness)", "int. gradients"],
  ["input_x_gradient", "input × gradient", "input × grad"],
  ["feature_ablation", "feature ablation (occlusion)", "occlusion"],
];
const message = (err) => (err instanceof ApiError || err instanceof Error ? err.message : String(err));
const fmt = (v, digits = 2) => (v === null || v === undefined || Number.isNaN(v) ? "n/a" : Number(v).toFixed(digits));
export const IG_STEPS = 32; // integrated gradients' first try
export const IG_RETRY_STEPS = 128; // and its one retry when the first misses completeness (Marian and
// captioner-sat-cnn need about this many gradient points: reports/ig_rules_dev.json). The API does the retry in
// the same request (retry_steps): the rows it computed again carry first_try {steps, delta}.

// The completeness cell of integrated gradients' row g (an agreement entry): F(x) - F(baseline) against the
// attributions' sum with the steps the row's values come from, and what the first try gave when it was retried.
export function completenessText(g) {
  if (g.delta === null || g.delta === undefined) return "n/a";
  const off = (delta) => `${fmt(Math.abs(delta / g.change) * 100, 1)}%`;
  let text = `${fmt(g.change)} vs sum ${fmt(g.change - g.delta)} with ${g.steps} steps `
    + `(${g.complete ? "within 5%" : `off by ${off(g.delta)}, more than 5%`})`;
  if (g.first_try) {
    text += `; ${g.first_try.steps} steps were off by ${off(g.first_try.delta)}, so it was computed again with `
      + `${g.steps}${g.complete ? "" : ": still incomplete, read this row with care"}`;
  }
  return text;
}

// The attention readout the agreement is measured against: the selected head, the layer's mean, or rollout.
// Translators' readouts are over cross-attention; other kinds fall back to the last layer's mean.
export function readoutOf(sel, task) {
  if (task === "translation" && sel.kind !== "cross") return null;
  if (sel.head === "rollout") return { kind: "rollout" };
  if (/^\d+$/.test(sel.head)) return { kind: "head", layer: sel.layer, head: Number(sel.head) };
  return { kind: "mean", layer: sel.layer };
}

// A row of |values| as shares of their sum (all zero stays zero): attention rows already sum to 1, so the
// attributions are drawn on the same scale.
function shares(row) {
  const abs = Array.from(row, Math.abs);
  const total = abs.reduce((a, b) => a + b, 0);
  return total > 0 ? abs.map((v) => v / total) : abs;
}

// ---- Deletion curves ------------------------------------------------------------------------------

// One word's deletion curves from the three methods' answers: the attention and random orders (the same in every
// answer) once, then each method's own order. null when the answers carry none.
export function mergedCurves(answers) {
  const first = answers[0] && answers[0].deletion;
  if (!first) return null;
  const orders = [first.orders[0], ...answers.map((a) => a.deletion && a.deletion.orders[1]).filter(Boolean), first.orders[2]];
  return { fractions: first.fractions, orders };
}

// Comprehensiveness curves as SVG (lines, text labels with each area): the word's log-probability drop as its
// inputs are removed (set to the baseline) in each order.
export function drawDeletion(container, curves) {
  container.replaceChildren();
  if (!curves) return;
  const w = 420;
  const plotH = 180;
  const m = { l: 44, r: 12, t: 10, b: 34 };
  const h = plotH + 8 + 16 * curves.orders.length; // the legend goes under the plot: it fits a phone
  const all = curves.orders.flatMap((s) => s.comprehensiveness);
  const lo = Math.min(0, ...all);
  const hi = Math.max(1e-6, ...all);
  const x = (f) => m.l + f * (w - m.l - m.r);
  const y = (v) => m.t + (1 - (v - lo) / (hi - lo)) * (plotH - m.t - m.b);
  const SVG = "http://www.w3.org/2000/svg";
  const node = (name, attrs, text) => {
    const n = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  };
  const svg = node("svg", { viewBox: `0 0 ${w} ${h}`, class: "deletion-curve", role: "img",
    "aria-label": "Deletion curves: drop in the word's score as inputs are removed in each order" });
  const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#7f7f7f"];
  svg.append(node("line", { x1: m.l, y1: y(0), x2: w - m.r, y2: y(0), stroke: "#bbb" }));
  curves.orders.forEach((s, k) => {
    const colour = colours[k % colours.length];
    const pts = s.comprehensiveness.map((v, i) => `${x(curves.fractions[i])},${y(v)}`).join(" ");
    const line = node("polyline", { points: pts, fill: "none", stroke: colour, "stroke-width": 2 });
    if (s.order === "random") line.setAttribute("stroke-dasharray", "4 3");
    svg.append(line);
    svg.append(node("text", { x: m.l, y: plotH + 12 + k * 16, fill: colour, "font-size": 12, class: "curve-label" },
      `${s.order.replace(/_/g, " ")}: area ${fmt(s.comprehensiveness_auc)}`));
  });
  svg.append(node("text", { x: m.l, y: plotH - 12, "font-size": 11 }, "fraction of the inputs removed: 0 → 1"));
  svg.append(node("text", { x: 2, y: m.t + 10, "font-size": 11 }, fmt(hi, 1)));
  svg.append(node("text", { x: 2, y: y(lo), "font-size": 11 }, fmt(lo, 1)));
  container.append(el("p", { class: "hint" },
    "Deletion curves (comprehensiveness): how far this word's score falls as its inputs are replaced by the baseline, "
    + "the most important first in each order. A higher, earlier curve (a larger area) means the order found what the "
    + "model needs; random is the floor to beat."), svg);
}

// ---- Explain view -------------------------------------------------------------------------------

export function createExplain({ ui, current, onStatus }) {
  const latest = new Latest();
  let shown = null; // {request, rows: [{label, values}], cols, word, agreement, curves}

  function reset() {
    latest.cancel();
    shown = null;
    purge(ui.explainPlot);
    ui.explainTable.tBodies[0].replaceChildren();
    ui.explainCurve.replaceChildren();
    ui.explainNote.textContent = "";
    delete ui.explainPlot.dataset.word;
  }

  // Fills the word picker (translators) or shows the second-sentence field (encoders); false when the model
  // has no attributions here.
  function prepare() {
    const { model, response } = current();
    const offered = Boolean(model && (model.options || []).includes("attribution"));
    ui.explainControls.hidden = !offered;
    if (!offered) {
      reset();
      ui.explainNote.textContent = `${model ? model.id : "This model"} has no attributions here: the Explain view covers `
        + "the models whose output can be traced back to their input with Captum (see GET /api/models, option attribution).";
      return false;
    }
    const translation = model.task === "translation";
    ui.explainRowField.hidden = !translation;
    ui.explainCompareField.hidden = translation;
    if (translation) {
      const tokens = response.output_tokens || [];
      const keep = ui.explainRow.value;
      ui.explainRow.replaceChildren(...tokens.map((t, i) => el("option", { value: String(i) }, `${i + 1}: ${t}`)));
      ui.explainRow.value = tokens.some((_, i) => String(i) === keep) ? keep : "0";
    }
    return true;
  }

  async function run(sel) {
    const { model, request } = current();
    if (!prepare()) return;
    const { signal, id } = latest.next();
    const translation = model.task === "translation";
    const row = translation ? Number(ui.explainRow.value) : 0;
    const readout = readoutOf(sel, model.task);
    const base = { model: model.id, text: request.text, target: row, top_k: 3, encoding: "f16" };
    if (readout) base.readout = readout;
    if (!translation) {
      if (!ui.explainCompare.value.trim()) {
        ui.explainNote.textContent = "Type a second sentence: MiniLM's target is the cosine similarity of the two sentence embeddings.";
        return;
      }
      base.compare_with = ui.explainCompare.value;
    }
    ui.explainRun.disabled = true;
    onStatus("Computing attributions (three Captum methods, one after another)…");
    try {
      const answers = [];
      for (const [method] of METHODS) {
        const ig = method === "integrated_gradients" ? { steps: IG_STEPS, retry_steps: IG_RETRY_STEPS } : {};
        answers.push(await postJSON("/api/attribution/text", { ...base, method, ...ig, deletion: true }, { signal }));
      }
      if (!latest.current(id)) return;
      const attention = decodeMap(answers[0].maps[1]);
      const cols = attention.col_tokens;
      const rows = [{ label: "attention", readout: attention.method, values: Array.from(attention.values[0]), raw: attention.values[0] }];
      answers.forEach((a, k) => {
        const map = decodeMap(a.maps[0]);
        rows.push({ label: METHODS[k][2], values: shares(map.values[0]), raw: Array.from(map.values[0]) });
      });
      const word = translation ? answers[0].output_tokens[row] : "similarity to the second sentence";
      shown = { request: base, rows, cols, word, target: answers[0].target, answers };
      draw();
      onStatus(`Explained ${translation ? `"${word}"` : "the sentence similarity"}: attention beside three attributions.`);
    } catch (err) {
      if (isAbort(err) || !latest.current(id)) return;
      reset();
      ui.explainNote.textContent = `Explain failed: ${message(err)}`;
      onStatus("");
    } finally {
      if (latest.current(id)) ui.explainRun.disabled = false;
    }
  }

  function draw() {
    if (!shown) return;
    const z = shown.rows.map((r) => r.values);
    ui.explainPlot.dataset.word = shown.word;
    drawHeatmap(ui.explainPlot, {
      z, x: shown.cols, y: shown.rows.map((r) => r.label), zmin: 0, zmax: Math.max(maxAbs(z), 1e-9),
      title: `"${shown.word}": attention vs attributions`,
      xTitle: "input token", yTitle: "", colorbarTitle: "share", height: 300,
    });
    const body = ui.explainTable.tBodies[0];
    body.replaceChildren(...shown.answers.map((a, k) => {
      const g = a.agreement[0];
      const complete = k === 0 ? completenessText(g) : "n/a";
      return el("tr", { dataset: { method: METHODS[k][0] } },
        el("th", { scope: "row", title: METHODS[k][1] }, METHODS[k][2]), el("td", {}, fmt(g.spearman)), el("td", {}, fmt(g.kendall)),
        el("td", {}, fmt(g.top_k_overlap)), el("td", {}, complete));
    }));
    drawCurves();
    ui.explainNote.textContent = `Target: ${shown.target}. Agreement is measured against the attention readout ${shown.rows[0].readout}; `
      + "Spearman and Kendall compare the attention row with |attribution| token by token, top-3 overlap the three largest of each.";
  }

  function drawCurves() {
    drawDeletion(ui.explainCurve, mergedCurves(shown.answers));
  }

  // What the export buttons save in this view: the rows drawn, on their token axis.
  function figureData() {
    return shown ? { z: shown.rows.map((r) => r.values), x: shown.cols, y: shown.rows.map((r) => r.label), word: shown.word,
      json: { request: shown.request, target: shown.target, word: shown.word, col_tokens: shown.cols,
        rows: shown.rows.map((r) => ({ label: r.label, shares: r.values, values: Array.from(r.raw) })),
        agreement: shown.answers.map((a, k) => ({ method: METHODS[k][0], ...a.agreement[0] })),
        deletion: mergedCurves(shown.answers) } } : null;
  }

  return { reset, prepare, run, draw, figureData };
}

// ---- Head ablation and the most important heads ---------------------------------------------------

export function createAblation({ ui, current, onStatus, onPick }) {
  const latest = new Latest();
  const rankRequest = new Latest();
  const off = new Map(); // "kind/layer/head" -> [kind, layer, head]

  function reset() {
    latest.cancel();
    rankRequest.cancel();
    off.clear();
    ui.ablateMode.checked = false;
    ui.ablateResult.replaceChildren();
    purge(ui.ablateDiff);
    ui.ablateDiff.hidden = true;
    ui.rankTable.tBodies[0].replaceChildren();
    ui.rankNote.textContent = "";
    sync();
  }

  const offered = () => {
    const { model } = current();
    return Boolean(model && (model.options || []).includes("ablate"));
  };

  function sync() {
    const n = off.size;
    ui.ablateRun.disabled = n === 0;
    ui.ablateClear.disabled = n === 0;
    ui.ablateCount.textContent = n ? `${n} head${n === 1 ? "" : "s"} marked off: ${[...off.values()].map(([k, l, h]) => `${k} L${l} H${h}`).join(", ")}` : "No head marked off.";
    for (const b of document.querySelectorAll("#grid .thumb")) {
      const k = `${b.dataset.kind}/${b.dataset.layer}/${b.dataset.head}`;
      b.classList.toggle("ablated", off.has(k));
    }
  }

  // Ranking runs the model's score function (/api/attribution/heads): models with heads to switch off and attributions.
  const rankable = () => offered() && (current().model.options || []).includes("attribution");

  function prepare() {
    const ok = offered();
    ui.ablationBox.hidden = !ok;
    ui.rankBox.hidden = !rankable();
    if (!ok) reset();
  }

  const active = () => ui.ablateMode.checked && offered();

  function toggle(kind, layer, head) {
    const k = `${kind}/${layer}/${head}`;
    if (off.has(k)) off.delete(k);
    else off.set(k, [kind, layer, head]);
    sync();
  }

  // Runs the sentence again with the marked heads off: the new output, and for the selected view the
  // difference (ablated minus unablated) when the tokens still match.
  async function run(sel) {
    const { model, request, mapOf } = current();
    const { signal, id } = latest.next();
    ui.ablateRun.disabled = true;
    onStatus(`Running ${model.id} with ${off.size} heads off…`);
    try {
      const body = { model: model.id, text: request.text, ablate: [...off.values()], kinds: [sel.kind], layers: [sel.layer],
        encoding: "f16" };
      if (request.beam) body.beam = request.beam;
      const answer = await postJSON("/api/attention/text", body, { signal });
      if (!latest.current(id)) return;
      const before = current().response;
      const changed = before.output_text !== answer.output_text;
      ui.ablateResult.replaceChildren(
        el("p", {}, el("strong", {}, "With every head: "), before.output_text ?? "(an encoder: no generated text)"),
        el("p", {}, el("strong", {}, `Without ${off.size} head${off.size === 1 ? "" : "s"}: `), answer.output_text ?? "(an encoder: no generated text)"),
        el("p", { class: "hint" }, before.output_text === null ? "The maps below show what changed."
          : (changed ? "The output changed." : "The output is the same.")),
      );
      ui.ablateResult.dataset.output = answer.output_text ?? "";
      const maps = answer.maps.map(decodeMap).filter((m) => m.kind === sel.kind && m.layer === sel.layer);
      const single = /^\d+$/.test(sel.head);
      const heads = [...new Set(maps.map((m) => m.head))];
      const orig = heads.map((h) => mapOf(sel.kind, sel.layer, h));
      const view = (list) => (single ? (list.find((m) => m && m.head === Number(sel.head)) || null) : { ...list[0], values: combine(list, "mean") });
      const after = maps.length ? view(maps) : null;
      const before0 = orig.every(Boolean) && orig.length ? view(orig) : null;
      const same = (a, b) => a.join("\u0001") === b.join("\u0001");
      purge(ui.ablateDiff);
      ui.ablateDiff.hidden = true;
      if (!after || !before0) {
        ui.ablateResult.append(el("p", { class: "hint" }, "The maps of this layer are not loaded yet: run it again in a moment."));
      } else if (!same(after.row_tokens, before0.row_tokens) || !same(after.col_tokens, before0.col_tokens)) {
        ui.ablateResult.append(el("p", { class: "hint" }, "The tokens changed, so there is no cell-by-cell difference map: compare the outputs above."));
      } else {
        const which = single ? `head ${sel.head}` : "mean over heads";
        const largest = drawDifference(ui.ablateDiff, before0.values, after.values, { x: after.col_tokens, y: after.row_tokens,
          title: `L${sel.layer} ${which}: heads off − all on` });
        ui.ablateResult.append(el("p", { class: "hint" }, `Largest change in this map: ${largest.toFixed(4)} (red: more weight `
          + "with the heads off). A switched-off head still computes its weights (its output is zeroed after the softmax), so "
          + "its own map does not move: the change shows in later layers and in the output."));
      }
      onStatus(`Ran with ${off.size} heads off.`);
    } catch (err) {
      if (isAbort(err) || !latest.current(id)) return;
      ui.ablateResult.replaceChildren(el("p", { class: "error-text" }, `Ablation failed: ${message(err)}`));
      onStatus("");
    } finally {
      if (latest.current(id)) ui.ablateRun.disabled = off.size === 0;
    }
  }

  // Every head off alone, ranked by |change| of the output's summed log-probability (server-side).
  async function rank() {
    const { model, request } = current();
    const { signal, id } = rankRequest.next();
    ui.rankRun.disabled = true;
    ui.rankNote.textContent = "Switching every head off in turn…";
    try {
      const body = { model: model.id, text: request.text, top: 12 };
      if (model.task === "encoder") body.compare_with = ui.explainCompare.value || "Someone plays music.";
      const answer = await postJSON("/api/attribution/heads", body, { signal });
      if (!rankRequest.current(id)) return;
      ui.rankTable.tBodies[0].replaceChildren(...answer.heads.map((h, i) => {
        const button = el("button", { type: "button", class: "link-button", dataset: { kind: h.kind, layer: h.layer, head: h.head } },
          `${h.kind} L${h.layer} H${h.head}`);
        button.addEventListener("click", () => onPick(h.kind, h.layer, h.head));
        return el("tr", {}, el("td", {}, String(i + 1)), el("td", {}, button), el("td", {}, fmt(h.change, 3)));
      }));
      ui.rankNote.textContent = `${answer.heads_tested} heads tested; score: ${answer.target}. The change is the score `
        + "with the head off minus with every head; click a head to open it.";
    } catch (err) {
      if (isAbort(err) || !rankRequest.current(id)) return;
      ui.rankNote.textContent = `Ranking failed: ${message(err)}`;
    } finally {
      if (rankRequest.current(id)) ui.rankRun.disabled = false;
    }
  }

  return { reset, prepare, active, toggle, run, rank, sync, marked: () => [...off.values()] };
}
