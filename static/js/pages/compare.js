// Compare page: one sentence through several translation models, each model's cross-attention (its
// most readable layer, mean over heads) side by side, and a difference map for every pair whose
// rows and columns match: the same tokens, or else the same words once subwords are merged.
// A new run clears the old cards first; an error replaces them; superseded answers are dropped.

import { ApiError, Latest, isAbort, postJSON } from "../lib/api.js";
import { $, clearError, el, option, setBusy, showError } from "../lib/dom.js";
import { captionOf, exportButtons, mapFigure, wireExport } from "../lib/export.js";
import { drawHeatmap } from "../lib/heatmap.js";
import { combine, decodeMap, maxAbs, mergeWords } from "../lib/math.js";
import { listModels, shortName } from "../lib/model_picker.js";
import { readState, writeState } from "../lib/url_state.js";

const ui = {
  form: $("#compare-form"), picks: $("#model-picks"), pair: $("#compare-pair"), text: $("#compare-text"),
  words: $("#compare-words"), status: $("#compare-status"), error: $("#compare-error"), results: $("#compare-results"),
};
const SCHEMA = { text: { type: "string" }, models: { type: "list" }, word_level: { type: "bool" } };
const LANGUAGES = { en: "English", es: "Spanish", pt: "Portuguese", fr: "French", de: "German" };
const latest = new Latest();
let models = [];
const message = (err) => (err instanceof ApiError || err instanceof Error ? err.message : String(err));
const pairOf = (m) => `${m.source_lang}-${m.target_lang}`;
const pairName = (p) => p.split("-").map((c) => LANGUAGES[c] || c).join(" → ");

function clearResults() {
  ui.results.replaceChildren();
  ui.status.textContent = "";
}

// The cross-attention layer a model opens on, averaged over its heads (float16 on the wire).
async function crossMap(model, text, signal) {
  const shape = model.attention_shapes.find((s) => s.kind === "cross" && s.layers > 0);
  const body = { model: model.id, text, encoding: "f16" };
  if (shape) Object.assign(body, { kinds: ["cross"], layers: [model.default_layer ?? shape.layers - 1] });
  let data;
  try {
    data = await postJSON("/api/attention/text", body, { signal });
  } catch (err) {
    if (err instanceof ApiError) throw new ApiError(err.status, `${model.id}: ${err.message}`, err.detail);
    throw err;
  }
  const maps = data.maps.map(decodeMap);
  if (!maps.length) return { model, text: data.output_text, note: data.note, values: null };
  return { model, text: data.output_text, note: data.note, layer: maps[0].layer,
    values: combine(maps, "mean"), rows: maps[0].row_tokens, cols: maps[0].col_tokens };
}

const same = (a, b) => a.length === b.length && a.every((t, i) => t === b[i]);

// What two results can be subtracted on: their tokens, or their merged words, or nothing.
function common(a, b) {
  if (same(a.rows, b.rows) && same(a.cols, b.cols)) return { level: "tokens", a: a.values, b: b.values, rows: a.rows, cols: a.cols };
  const wa = mergeWords(a.values, a.rows, a.cols);
  const wb = mergeWords(b.values, b.rows, b.cols);
  if (same(wa.rowTokens, wb.rowTokens) && same(wa.colTokens, wb.colTokens)) {
    return { level: "words", a: wa.values, b: wb.values, rows: wa.rowTokens, cols: wa.colTokens };
  }
  return null;
}

function card(title, ...children) {
  return el("section", { class: "compare-card" }, el("h2", {}, title), ...children);
}

// A card's download group: the card's map as PNG, SVG, CSV, JSON and .npz.
function exportable(box, spec) {
  const group = exportButtons("Download this card");
  wireExport(group, () => mapFigure(spec), (text) => showError(ui.error, text));
  box.append(group);
}

const fileName = (s) => s.replace(/[^\w.-]+/g, "-");

function render(results) {
  const words = ui.words.checked;
  const text = ui.text.value;
  const cards = [];
  const plots = [];
  for (const res of results) {
    const box = card(shortName(res.model), el("p", { class: "output" }, res.text ?? ""));
    box.dataset.model = res.model.id;
    if (res.values) {
      const shown = words ? mergeWords(res.values, res.rows, res.cols)
        : { values: res.values, rowTokens: res.rows, colTokens: res.cols };
      const plot = el("div", { class: "compare-plot" });
      box.append(el("p", { class: "hint" }, `Cross-attention, layer ${res.layer}, mean over heads.`), plot);
      plots.push([plot, { z: shown.values, x: shown.colTokens, y: shown.rowTokens, zmin: 0, zmax: 1, height: 360 }]);
      const head = "mean over heads";
      const caption = captionOf({ model: res.model.id, input: text, kind: "cross-attention", layer: res.layer, head });
      const values = shown.values.map((r) => Array.from(r));
      exportable(box, {
        name: fileName(`attnviz-${res.model.id}-cross-L${res.layer}-mean${words ? "-words" : ""}`),
        z: shown.values, x: shown.colTokens, y: shown.rowTokens, title: `${shortName(res.model)}: ${res.text ?? ""}`, caption,
        json: { model: res.model.id, text, output_text: res.text, caption, word_level: words,
          map: { kind: "cross", layer: res.layer, head: "mean", shape: [values.length, shown.colTokens.length],
            row_tokens: shown.rowTokens, col_tokens: shown.colTokens, values } },
      });
    } else {
      box.append(el("p", { class: "note" }, res.note || "This model returned no attention maps."));
    }
    cards.push(box);
  }
  const withMaps = results.filter((r) => r.values);
  let pairs = 0;
  withMaps.forEach((a, i) => withMaps.slice(i + 1).forEach((b) => {
    const c = common(a, b);
    if (!c) return;
    pairs += 1;
    const diff = c.a.map((row, r) => Array.from(row, (v, k) => v - c.b[r][k]));
    const largest = maxAbs(diff);
    const plot = el("div", { class: "compare-plot" });
    const box = card(`${shortName(a.model)} − ${shortName(b.model)}`,
      el("p", { class: "hint" }, `Same ${c.level}. Largest difference ${largest.toFixed(4)} (red: ${shortName(a.model)} attends more).`),
      plot);
    box.classList.add("difference");
    box.dataset.maxDifference = String(largest);
    box.dataset.level = c.level;
    cards.push(box);
    plots.push([plot, { z: diff, x: c.cols, y: c.rows, scale: "diverging", colorbarTitle: "difference", height: 360 }]);
    const caption = captionOf({ model: `${a.model.id} minus ${b.model.id}`, input: text, kind: "cross-attention difference",
      layer: `${a.layer}/${b.layer}`, head: "mean over heads" });
    exportable(box, {
      name: fileName(`attnviz-${a.model.id}-minus-${b.model.id}-cross-difference`), z: diff, x: c.cols, y: c.rows,
      title: `${shortName(a.model)} − ${shortName(b.model)} (red: the first attends more)`, caption,
      scale: "diverging", zmin: -Math.max(largest, 1e-9), zmax: Math.max(largest, 1e-9),
      json: { models: [a.model.id, b.model.id], text, caption, level: c.level,
        map: { kind: "cross_difference", shape: [diff.length, c.cols.length], row_tokens: c.rows, col_tokens: c.cols, values: diff } },
    });
  }));
  if (withMaps.length > 1 && pairs === 0) {
    const box = card("Difference maps", el("p", { class: "hint" },
      "No two models produced the same tokens (nor the same words once subwords are merged), so no difference map can be drawn: rows must match."));
    box.classList.add("difference");
    cards.push(box);
  }
  ui.results.replaceChildren(...cards);
  for (const [plot, opts] of plots) drawHeatmap(plot, opts);
}

const picked = () => [...ui.picks.querySelectorAll("input:checked")].map((b) => models.find((m) => m.id === b.value));

function saveUrl() {
  writeState({ text: ui.text.value, models: picked().map((m) => m.id), word_level: ui.words.checked });
}

async function run() {
  const { signal, id } = latest.next();
  clearResults();
  clearError(ui.error);
  const chosen = picked();
  saveUrl();
  if (chosen.length < 2) {
    showError(ui.error, "Pick two or more models.");
    return;
  }
  const text = ui.text.value;
  if (!text.trim()) {
    showError(ui.error, "Type a sentence first.");
    return;
  }
  setBusy(ui.form, true);
  ui.status.textContent = `Running ${chosen.length} models…`;
  try {
    const results = [];
    for (const model of chosen) results.push(await crossMap(model, text, signal)); // one at a time: few cores
    if (!latest.current(id)) return;
    render(results);
    ui.status.textContent = `${results.length} models compared.`;
  } catch (err) {
    if (isAbort(err) || !latest.current(id)) return;
    clearResults();
    showError(ui.error, message(err));
  } finally {
    if (latest.current(id)) setBusy(ui.form, false);
  }
}

// Ticks the available models of one language pair.
function choosePair(pair) {
  for (const box of ui.picks.querySelectorAll("input")) {
    const m = models.find((x) => x.id === box.value);
    box.checked = m.available && pairOf(m) === pair;
  }
}

async function start() {
  const wish = readState(SCHEMA);
  if (wish.text !== null) ui.text.value = wish.text;
  ui.words.checked = wish.word_level;
  models = (await listModels()).filter((m) => m.task === "translation");
  const pairs = [...new Set(models.map(pairOf))];
  const ready = (p) => models.filter((m) => m.available && pairOf(m) === p).length;
  pairs.sort((a, b) => ready(b) - ready(a) || a.localeCompare(b));
  ui.pair.replaceChildren(...pairs.map((p) => option(p, `${pairName(p)} (${ready(p)} models)`, ready(p) === 0)));
  ui.picks.replaceChildren(...pairs.map((p) => el("fieldset", { class: "pick-group" }, el("legend", {}, pairName(p)),
    ...models.filter((m) => pairOf(m) === p).map((m) => el("label", { class: "check", title: m.description },
      el("input", { type: "checkbox", value: m.id, disabled: !m.available }),
      ` ${shortName(m)}`, m.available ? null : el("span", { class: "muted" }, " (not available here)"))))));
  if (wish.models.length) {
    for (const box of ui.picks.querySelectorAll("input")) box.checked = !box.disabled && wish.models.includes(box.value);
    const first = models.find((m) => m.id === wish.models[0]);
    if (first) ui.pair.value = pairOf(first);
    run();
  } else {
    choosePair(pairs[0]);
    ui.pair.value = pairs[0];
  }
}

ui.pair.addEventListener("change", () => {
  choosePair(ui.pair.value);
  clearResults();
  saveUrl();
});
ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  run();
});
start().catch((err) => showError(ui.error, message(err)));
