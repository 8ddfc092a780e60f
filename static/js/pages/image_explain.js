// The image page's Explain panel and head ablation. Explain: for the selected caption word, the attention
// readout (the Layer and Map selectors) beside three Captum attributions to the patch grid, each drawn as
// shares of its own total on one colour scale over the crop the model saw, with the agreement figures of
// POST /api/attribution/image. Ablation: a layer x head grid of checkboxes; the photo runs again with the
// checked heads off (POST /api/attention/image with "ablate"), giving the new caption (captioners) and the
// difference of the selected map against the unablated run.

import { ApiError, Latest, isAbort, postForm } from "../lib/api.js";
import { el } from "../lib/dom.js";
import { fillHeadCheckboxes } from "../lib/head_checkboxes.js";
import { paintMap } from "../lib/overlay.js";
import { maxAbs } from "../lib/math.js";
import { arraysNpz, canvasSvg, captionOf, mapsCsv } from "../lib/export.js";
import { IG_RETRY_STEPS, IG_STEPS, completenessText, drawDeletion, mergedCurves } from "./text_explain.js";

const METHODS = [
  ["integrated_gradients", "integrated gradients"],
  ["input_x_gradient", "input × gradient"],
  ["feature_ablation", "occlusion"],
];
const SIDE = 150; // CSS pixels of one explain panel
const message = (err) => (err instanceof ApiError || err instanceof Error ? err.message : String(err));
const fmt = (v, d = 2) => (v === null || v === undefined ? "n/a" : Number(v).toFixed(d));

function shares(values) {
  const total = values.flat().reduce((a, v) => a + Math.abs(v), 0);
  return values.map((row) => row.map((v) => (total > 0 ? Math.abs(v) / total : 0)));
}

// One panel: the crop of the photo under `values`, painted on the shared scale `max`.
function panel(photo, cropBox, values, max, label) {
  const canvas = el("canvas", { width: SIDE, height: SIDE, role: "img", "aria-label": label });
  const ctx = canvas.getContext("2d");
  if (photo) {
    const [left, top, right, bottom] = cropBox;
    ctx.drawImage(photo, left, top, right - left, bottom - top, 0, 0, SIDE, SIDE);
  }
  paintMap(ctx, values, max, 0, 0, SIDE, SIDE, photo ? 0.7 : 1);
  return el("figure", { class: "explain-panel" }, canvas, el("figcaption", {}, label));
}

export function createImageExplain({ ui, current, onStatus }) {
  const latest = new Latest();
  let shown = null;

  function reset() {
    latest.cancel();
    shown = null;
    ui.explainPanels.replaceChildren();
    ui.explainTable.tBodies[0].replaceChildren();
    ui.explainCurve.replaceChildren();
    ui.explainNote.textContent = "";
  }

  function prepare() {
    const { model, response } = current();
    const ok = Boolean(model && (model.options || []).includes("attribution") && response && response.output_tokens
      && response.output_tokens.length);
    ui.explainBox.hidden = !ok;
    if (!ok) reset();
    return ok;
  }

  async function run() {
    if (!prepare()) return;
    const { model, response, source, step, layer, head, photo } = current();
    const { signal, id } = latest.next();
    ui.explainRun.disabled = true;
    onStatus(`Computing attributions for "${response.output_tokens[step]}"…`);
    try {
      const ask = (method) => {
        const body = new FormData();
        body.append("model", model.id);
        body.append("file", source.blob, source.filename);
        body.append("method", method);
        body.append("steps", String(IG_STEPS));
        if (method === "integrated_gradients") body.append("retry_steps", String(IG_RETRY_STEPS));
        body.append("target", String(step));
        body.append("deletion", "true");
        if (layer !== null) body.append("readout_layer", String(layer));
        if (/^\d+$/.test(head)) {
          body.append("readout_kind", "head");
          body.append("readout_head", head);
        }
        return postForm("/api/attribution/image", body, { signal });
      };
      const wordOf = (a) => a.agreement.find((x) => x.row === step) || a.agreement[0];
      const answers = [];
      for (const [method] of METHODS) answers.push(await ask(method));
      if (!latest.current(id)) return;
      const attention = answers[0].maps.find((m) => m.kind === "attention" && m.step === step);
      const rows = [{ label: `attention (${attention.method})`, values: attention.values }];
      answers.forEach((a, k) => {
        const map = a.maps.find((m) => m.kind === "attribution" && m.step === step);
        rows.push({ label: METHODS[k][1], values: shares(map.values), raw: map.values });
      });
      const max = Math.max(1e-9, ...rows.map((r) => maxAbs(r.values)));
      shown = { rows, answers, word: response.output_tokens[step], step, max };
      ui.explainPanels.replaceChildren(...rows.map((r) => panel(photo, response.preprocessing.crop_box, r.values, max, r.label)));
      ui.explainPanels.dataset.word = shown.word;
      ui.explainTable.tBodies[0].replaceChildren(...answers.map((a, k) => {
        const g = wordOf(a);
        const complete = k === 0 ? completenessText(g) : "n/a";
        return el("tr", { dataset: { method: METHODS[k][0] } }, el("th", { scope: "row" }, METHODS[k][1]),
          el("td", {}, fmt(g.spearman)), el("td", {}, fmt(g.kendall)), el("td", {}, fmt(g.top_k_overlap)), el("td", {}, complete));
      }));
      drawDeletion(ui.explainCurve, mergedCurves(answers));
      ui.explainNote.textContent = `Target: ${answers[0].target}. Each panel shows shares of its own total on one colour scale `
        + `(top = ${max.toFixed(3)}); attributions are |values|. Baseline: ${answers[0].baseline}.`;
      onStatus(`Explained "${shown.word}": attention beside three attributions.`);
    } catch (err) {
      if (isAbort(err) || !latest.current(id)) return;
      reset();
      ui.explainNote.textContent = `Explain failed: ${message(err)}`;
    } finally {
      if (latest.current(id)) ui.explainRun.disabled = false;
    }
  }

  // The four panels side by side as one figure; data: one array per panel (attention, then |attribution| shares,
  // and the signed attributions as *_raw).
  function figure() {
    if (!shown) return null;
    const { model, response } = current();
    const canvases = [...ui.explainPanels.querySelectorAll("canvas")];
    const joined = document.createElement("canvas");
    joined.width = canvases.length * (SIDE + 8);
    joined.height = SIDE;
    const ctx = joined.getContext("2d");
    canvases.forEach((c, i) => ctx.drawImage(c, i * (SIDE + 8), 0));
    const [h, w] = response.grid;
    const rows = Array.from({ length: h }, (_, r) => `row ${r}`);
    const cols = Array.from({ length: w }, (_, c) => `col ${c}`);
    const safe = (t) => t.replace(/[^\w]+/g, "_");
    const caption = captionOf({ model: model.id, input: "photo", kind: `explain "${shown.word}"`, layer: "-", head: shown.rows[0].label });
    return {
      name: `attnviz-${model.id}-explain-word${shown.step}`,
      svg: () => canvasSvg({ canvas: joined, title: `"${shown.word}": attention beside attributions`, caption,
        notes: [shown.rows.map((r) => r.label).join("  |  ")] }),
      csv: () => mapsCsv(["panel"], shown.rows.map((r) => ({ keys: [r.label], z: r.values, y: rows })), cols),
      npz: () => arraysNpz([...shown.rows.map((r) => [safe(r.label), r.values]),
        ...shown.rows.filter((r) => r.raw).map((r) => [`${safe(r.label)}_raw`, r.raw])], [["row_tokens", rows], ["col_tokens", cols]]),
      json: () => ({ model: model.id, word: shown.word, step: shown.step, caption,
        panels: shown.rows.map((r) => ({ label: r.label, values: r.values, raw: r.raw || null })),
        agreement: shown.answers.map((a, k) => ({ method: METHODS[k][0], ...(a.agreement.find((x) => x.row === shown.step) || a.agreement[0]) })),
        deletion: mergedCurves(shown.answers) }),
    };
  }

  return { reset, prepare, run, figure };
}

export function createImageAblation({ ui, current, onStatus }) {
  const latest = new Latest();

  function reset() {
    latest.cancel();
    ui.ablateResult.replaceChildren();
    ui.ablateDiff.hidden = true;
    for (const box of ui.ablateGrid.querySelectorAll("input")) box.checked = false;
    sync();
  }

  const checked = () => [...ui.ablateGrid.querySelectorAll("input:checked")].map((b) => [Number(b.dataset.layer), Number(b.dataset.head)]);

  function sync() {
    const n = checked().length;
    ui.ablateRun.disabled = n === 0;
    ui.ablateRun.textContent = n ? `Run without the ${n} checked head${n === 1 ? "" : "s"}` : "Run without the checked heads";
  }

  // A checkbox per (layer, head) of the attention the model's ablation switches (self for ViTs, cross for
  // the captioner).
  function prepare() {
    const { model } = current();
    const ok = Boolean(model && (model.options || []).includes("ablate"));
    ui.ablationBox.hidden = !ok;
    if (!ok) return;
    const shape = model.attention_shapes[0];
    if (ui.ablateGrid.dataset.model === model.id) return;
    ui.ablateGrid.dataset.model = model.id;
    fillHeadCheckboxes(ui.ablateGrid, { layers: shape.layers, heads: shape.heads, onChange: sync });
    sync();
  }

  async function run() {
    const { model, response, source, selectedMap, findIn } = current();
    const heads = checked();
    const { signal, id } = latest.next();
    ui.ablateRun.disabled = true;
    onStatus(`Running ${model.id} with ${heads.length} heads off…`);
    try {
      const body = new FormData();
      body.append("model", model.id);
      body.append("file", source.blob, source.filename);
      body.append("ablate", JSON.stringify(heads));
      const answer = await postForm("/api/attention/image", body, { signal });
      if (!latest.current(id)) return;
      const lines = [];
      if (response.output_tokens) {
        lines.push(el("p", {}, el("strong", {}, "Caption with every head: "), response.output_tokens.join(" ")));
        lines.push(el("p", {}, el("strong", {}, `Without ${heads.length} head${heads.length === 1 ? "" : "s"}: `), answer.output_tokens.join(" ")));
      }
      ui.ablateResult.replaceChildren(...lines);
      ui.ablateResult.dataset.caption = answer.output_tokens ? answer.output_tokens.join(" ") : "";
      const before = selectedMap();
      const after = before ? findIn(answer, before) : null;
      if (!after) {
        ui.ablateDiff.hidden = true;
        ui.ablateResult.append(el("p", { class: "hint" }, "The caption changed at this word, so there is no map to compare: compare the captions."));
      } else {
        const diff = after.values.map((row, r) => row.map((v, c) => v - before.values[r][c]));
        const largest = maxAbs(diff);
        ui.ablateDiff.hidden = false;
        ui.ablateDiff.dataset.maxDifference = String(largest);
        const ctx = ui.ablateDiff.getContext("2d");
        ui.ablateDiff.width = SIDE * 2;
        ui.ablateDiff.height = SIDE * 2;
        // Diverging: blue where the map lost weight, red where it gained, drawn on the heat table's two ends.
        const [h, w] = [diff.length, diff[0].length];
        for (let r = 0; r < h; r++) {
          for (let c = 0; c < w; c++) {
            const t = largest > 0 ? diff[r][c] / largest : 0;
            const k = Math.round(Math.abs(t) * 255);
            ctx.fillStyle = t >= 0 ? `rgb(255,${255 - k},${255 - k})` : `rgb(${255 - k},${255 - k},255)`;
            ctx.fillRect((c * ui.ablateDiff.width) / w, (r * ui.ablateDiff.height) / h, ui.ablateDiff.width / w + 1, ui.ablateDiff.height / h + 1);
          }
        }
        ui.ablateResult.append(el("p", { class: "hint" }, `Difference of the selected map, heads off minus every head on: largest `
          + `change ${largest.toFixed(4)} (red: more weight, blue: less).`));
      }
      onStatus(`Ran with ${heads.length} heads off.`);
    } catch (err) {
      if (isAbort(err) || !latest.current(id)) return;
      ui.ablateResult.replaceChildren(el("p", { class: "error-text" }, `Ablation failed: ${message(err)}`));
    } finally {
      if (latest.current(id)) sync();
    }
  }

  return { reset, prepare, run };
}
