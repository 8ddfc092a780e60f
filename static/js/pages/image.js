// Image attention page: upload a photo (or pick a sample), fetch every map and draw the selected one
// over the photo, upsampled onto the crop box the model saw. Vision backbones give class-token maps
// per layer and head; captioners give a caption whose words are buttons, each opening the map of the
// step that wrote it, with its confidence (and a plain warning when the model is unsure) and a searchable list of
// the objects it knows. The "side by side" view runs every captioner on the photo instead (image_side.js).
// The view is a function of (request, response, selection): a new photo or model clears the old result first,
// an error replaces it, superseded answers are dropped.

import { ApiError, Latest, isAbort, postForm, getJSON } from "../lib/api.js";
import { arraysNpz, canvasSvg, captionOf, mapCsv, wireExport } from "../lib/export.js";
import { $, $$, clearError, copyLink, el, option, setBusy, showError, showSaved } from "../lib/dom.js";
import { heatGradient } from "../lib/colours.js";
import { cropRect, decodePhoto, drawPhotoMap, paintMap } from "../lib/overlay.js";
import { fillPicker } from "../lib/model_picker.js";
import { createImageAblation, createImageExplain } from "./image_explain.js";
import { createSideBySide } from "./image_side.js";
import { confidenceNote, expectNote, probText } from "../lib/caption_notes.js";
import { createWordFilter } from "../lib/word_filter.js";
import { readState, writeState } from "../lib/url_state.js";

const ui = {
  form: $("#image-form"), model: $("#model"), file: $("#file"), dropzone: $("#dropzone"), preview: $("#preview"),
  samples: $("#samples"), status: $("#status"), error: $("#error"), result: $("#result"), layer: $("#layer"),
  head: $("#head"), opacity: $("#opacity"), hideArtifacts: $("#hide-artifacts"), canvas: $("#overlay"),
  thumbs: $("#thumbs"), captionBox: $("#caption-box"), captionWords: $("#caption-words"),
  thumbsCaption: $("#thumbs-caption"), modelNote: $("#model-note"), confidence: $("#confidence"),
  captionLabel: $("#caption-label"), expectNote: $("#expect-note"), showProbs: $("#show-probs"), known: $("#known"),
  knownTotal: $("#known-total"), sceneSamples: $("#scene-samples"), sceneRow: $("#scene-samples-row"),
  galleryNote: $("#gallery-note"),
  unavailable: $("#unavailable"), mapCaption: $("#map-caption"), readout: $("#readout"), cbarMax: $("#cbar-max"),
  geometry: $("#geometry"), artifactCount: $("#artifact-count"), artifactNote: $("#artifact-note"), views: $("#result .image-views"),
  controls: $("#image-controls"), save: $("#save-result"), saved: $("#saved"), savedUrl: $("#saved-url"),
  savedToken: $("#saved-token"), savedNote: $("#saved-note"),
};
const xui = {
  explainBox: $("#image-explain"), explainRun: $("#image-explain-run"), explainPanels: $("#image-explain-panels"),
  explainTable: $("#image-explain-table"), explainNote: $("#image-explain-note"), explainCurve: $("#image-explain-curve"), ablationBox: $("#image-ablation"),
  ablateGrid: $("#image-ablate-grid"), ablateRun: $("#image-ablate-run"), ablateResult: $("#image-ablate-result"),
  ablateDiff: $("#image-ablate-diff"),
};
const THUMBS_TEXT = ui.thumbsCaption.textContent;
const SCHEMA = { model: { type: "string" }, sample: { type: "string" }, layer: { type: "string" },
  head: { type: "string" }, step: { type: "int" }, result: { type: "string" }, view: { type: "string" } };
const MAX_SIDE = 640; // largest side of the main canvas in CSS pixels
const THUMB_SIDE = 96;

let models = [];
let source = null; // {blob, filename, sample, savedId} of the photo being shown (savedId: opened from the store)
let state = null; // {response, photo} of the drawn answer
let step = 0; // selected caption word
let drawCount = 0; // bumped on every main draw, so tests can wait for a redraw
let photoUrl = null;
let samples = []; // GET /api/samples: what each sample expects
const latest = new Latest();
const knownFilter = createWordFilter({ input: $("#known-filter"), count: $("#known-count"), list: $("#known-list") });
const side = createSideBySide({ ui: { section: $("#side"), cards: $("#side-cards"), word: $("#side-word") },
  onStatus: (text) => { ui.status.textContent = text; } });
const sideBySide = () => $('input[name="view"][value="side"]').checked;
const sampleButtons = () => $$("#samples button, #scene-samples button");
const sampleOf = (name) => samples.find((s) => s.name === name) || null;
const message = (err) => (err instanceof ApiError || err instanceof Error ? err.message : String(err));

// ---- State ---------------------------------------------------------------------------------

function clearResult() {
  state = null;
  step = 0;
  ui.result.hidden = true;
  ui.captionWords.replaceChildren();
  ui.confidence.hidden = true;
  ui.expectNote.hidden = true;
  ui.known.hidden = true;
  ui.captionBox.classList.remove("unsure");
  ui.thumbs.replaceChildren();
  ui.mapCaption.textContent = "";
  ui.readout.textContent = "";
  ui.geometry.textContent = "";
  ui.canvas.getContext("2d").clearRect(0, 0, ui.canvas.width, ui.canvas.height);
  delete ui.canvas.dataset.layer;
  delete ui.canvas.dataset.map;
  delete ui.canvas.dataset.step;
  ui.saved.hidden = true;
  ui.savedUrl.value = "";
  ui.savedToken.textContent = "";
  ui.savedNote.hidden = true;
  explainer.reset();
  ablation.reset();
}

function failed(err) {
  clearResult();
  setBusy(ui.form, false);
  setSamplesBusy(false);
  ui.status.textContent = "";
  showError(ui.error, message(err));
  saveUrl();
}

function setSamplesBusy(busy) {
  for (const b of sampleButtons()) b.disabled = busy;
}

const isCaption = () => Boolean(state && state.response.output_tokens);
const selectedLayer = () => (ui.layer.value === "" ? null : Number(ui.layer.value));

function saveUrl() {
  const view = { view: sideBySide() ? "side" : null, model: sideBySide() ? null : ui.model.value,
    sample: source && source.sample ? source.sample : null,
    result: !sideBySide() && source && source.savedId ? source.savedId : null };
  if (!sideBySide() && state && state.response.maps.length) {
    Object.assign(view, { layer: ui.layer.value, head: ui.head.value, step: isCaption() ? step : null });
  }
  writeState(view);
}

// ---- Maps ----------------------------------------------------------------------------------

function findMap(layer, which, at = step) {
  return state.response.maps.find((m) => {
    if (m.layer !== layer) return false;
    if (m.kind === "spatial") {
      if (m.step !== at) return false;
      return which === "mean" ? m.head === null : m.head === Number(which);
    }
    if (which === "rollout") return m.kind === "rollout";
    if (which === "mean") return m.kind === "cls" && m.head === null;
    return m.kind === "cls" && m.head === Number(which);
  });
}

const currentMap = () => findMap(selectedLayer(), ui.head.value);

function mapName(map) {
  if (map.kind === "spatial") {
    if (map.layer === null) return "the decoder's attention";
    if (map.head === null) return `cross-attention layer ${map.layer}, mean over heads`;
    return `cross-attention layer ${map.layer}, head ${map.head}`;
  }
  if (map.kind === "rollout") return `rollout through layer ${map.layer}`;
  if (map.head === null) return `layer ${map.layer}, mean over heads`;
  return `layer ${map.layer}, head ${map.head}`;
}

// Show-Attend-Tell's gate beta: how much of the attended image reached the decoder for this word.
function gateText(at) {
  const gates = state.response.gates;
  if (!gates) return "";
  const beta = gates[at];
  const note = beta < 0.5
    ? " The decoder barely used the image for this word (it follows from the words before), so this map says little about the word."
    : "";
  return ` Image gate \u03b2 = ${beta.toFixed(2)}.${note}`;
}

function mapCaption(map) {
  const name = mapName(map);
  if (map.kind === "spatial") {
    const words = state.response.output_tokens;
    const total = map.values.flat().reduce((a, b) => a + b, 0);
    return `"${words[map.step]}" (word ${map.step + 1} of ${words.length}), ${name}: a softmax over the `
      + `${map.shape[0]} x ${map.shape[1]} patches (sums to ${total.toFixed(3)}). Colours run from 0 to this `
      + `map's largest patch weight.${gateText(map.step)}`;
  }
  return `${name[0].toUpperCase()}${name.slice(1)}: the class token keeps ${map.cls_self.toFixed(3)} on itself `
    + `and spreads ${(1 - map.cls_self).toFixed(3)} over the ${map.shape[0]} x ${map.shape[1]} patches. `
    + "Colours run from 0 to this map's largest patch weight.";
}

// Values to draw: artifact patches zeroed when hidden; returns [values, max over the shown patches].
function displayValues(map) {
  const hidden = new Set(ui.hideArtifacts.checked ? state.response.artifact_patches.map(([r, c]) => `${r},${c}`) : []);
  let max = 0;
  const values = map.values.map((row, r) => row.map((v, c) => {
    if (hidden.has(`${r},${c}`)) return 0;
    max = Math.max(max, v);
    return v;
  }));
  return [values, max];
}

function outlineArtifacts(ctx, map, box) {
  const patches = state.response.artifact_patches;
  if (ui.hideArtifacts.checked || !patches.length) return;
  const [h, w] = map.shape;
  ctx.save();
  ctx.strokeStyle = "#00e5ff";
  ctx.setLineDash([3, 2]);
  for (const [r, c] of patches) ctx.strokeRect(box.x + (c * box.w) / w, box.y + (r * box.h) / h, box.w / w, box.h / h);
  ctx.restore();
}

function drawMain() {
  if (!state) return;
  const map = currentMap();
  if (!map) return;
  const [values, max] = displayValues(map);
  const { box } = drawPhotoMap(ui.canvas, { photo: state.photo, imageSize: state.response.image_size,
    cropBox: state.response.preprocessing.crop_box, values, max, opacity: Number(ui.opacity.value) / 100,
    maxSide: MAX_SIDE });
  outlineArtifacts(ui.canvas.getContext("2d"), map, box);
  ui.canvas.dataset.layer = String(map.layer);
  ui.canvas.dataset.map = ui.head.value;
  ui.canvas.dataset.step = map.kind === "spatial" ? String(map.step) : "";
  ui.canvas.dataset.drawn = String(++drawCount);
  ui.cbarMax.textContent = max.toFixed(4);
  ui.mapCaption.textContent = mapCaption(map);
  ui.readout.textContent = "";
  for (const t of ui.thumbs.querySelectorAll(".image-thumb")) {
    const on = isCaption() ? t.dataset.step === String(step) : t.dataset.map === ui.head.value;
    t.classList.toggle("selected", on);
    t.setAttribute("aria-pressed", String(on));
  }
  for (const b of ui.captionWords.querySelectorAll(".caption-word")) {
    b.setAttribute("aria-pressed", String(b.dataset.step === String(step)));
  }
  saveUrl();
}

// One thumbnail: the crop under the map, a label, and what clicking it selects.
function thumb(map, label, onClick) {
  const c = el("canvas");
  const [h, w] = map.shape;
  c.width = THUMB_SIDE;
  c.height = Math.round((THUMB_SIDE * h) / w);
  const ctx = c.getContext("2d");
  const [values, max] = displayValues(map);
  if (state.photo) {
    const [left, top, right, bottom] = state.response.preprocessing.crop_box;
    ctx.drawImage(state.photo, left, top, right - left, bottom - top, 0, 0, c.width, c.height);
  }
  paintMap(ctx, values, max, 0, 0, c.width, c.height, state.photo ? 0.75 : 1);
  const caption = el("span", {}, label);
  const button = el("button", { type: "button", class: "image-thumb" }, c, caption);
  button.addEventListener("click", onClick);
  return [button, caption];
}

function selectWord(i) {
  step = i;
  drawMain();
}

function drawThumbs() {
  const layer = selectedLayer();
  if (isCaption()) {
    const gates = state.response.gates;
    ui.thumbs.replaceChildren(...state.response.output_tokens.map((word, i) => {
      const [button, caption] = thumb(findMap(layer, ui.head.value, i), word, () => selectWord(i));
      caption.className = "thumb-word";
      button.dataset.step = String(i);
      button.setAttribute("aria-label", `Show where the model looked for "${word}" (word ${i + 1})`);
      if (gates) {
        button.title = `image gate \u03b2 = ${gates[i].toFixed(2)}`;
        button.classList.toggle("low-gate", gates[i] < 0.5); // faded: the word barely used the image
      }
      return button;
    }));
    return;
  }
  ui.thumbs.replaceChildren(...[...ui.head.options].map((o) => {
    const map = findMap(layer, o.value);
    const [button] = thumb(map, o.textContent, () => {
      ui.head.value = o.value;
      drawMain();
    });
    button.dataset.map = o.value;
    button.setAttribute("aria-label", `Open ${mapName(map)}`);
    return button;
  }));
}

function drawCaption() {
  ui.captionBox.hidden = !isCaption();
  ui.thumbsCaption.textContent = isCaption()
    ? "Every word of the caption with the map of the step that wrote it (the selected layer and map), each "
      + "scaled to its own maximum; click one to open it."
    : THUMBS_TEXT;
  if (!isCaption()) return;
  const r = state.response;
  // Unsure: say so before the caption, and call it an unsure caption rather than asserting it.
  const note = confidenceNote(r);
  ui.confidence.textContent = note.text;
  ui.confidence.hidden = !note.text;
  ui.confidence.classList.toggle("unsure-note", note.unsure === true);
  ui.captionBox.classList.toggle("unsure", note.unsure === true);
  ui.captionLabel.textContent = note.unsure ? "Unsure caption:" : "Caption:";
  ui.captionWords.replaceChildren(...r.output_tokens.map((word, i) => {
    const p = probText(r, i);
    const b = el("button", { type: "button", class: "secondary caption-word", dataset: { step: i },
      "aria-pressed": String(i === step), title: p || null }, word,
    p && ui.showProbs.checked ? el("span", { class: "word-prob" }, p) : null);
    b.addEventListener("click", () => selectWord(i));
    return b;
  }));
  ui.showProbs.parentElement.hidden = !r.token_probs;
  const sample = source && source.sample ? sampleOf(source.sample) : null;
  ui.expectNote.textContent = [expectNote(sample, r.output_tokens, r.known_objects || []),
    sample && sample.offered === false && sample.note ? sample.note : ""].filter(Boolean).join(" ");
  ui.expectNote.hidden = !ui.expectNote.textContent;
  const known = r.known_objects || [];
  ui.known.hidden = !known.length;
  ui.knownTotal.textContent = `${known.length} words`;
  knownFilter.set(known);
}

function fillSelectors(wish) {
  const maps = state.response.maps;
  if (isCaption()) {
    const layers = [...new Set(maps.filter((m) => m.layer !== null).map((m) => m.layer))];
    const heads = [...new Set(maps.filter((m) => m.head !== null).map((m) => m.head))];
    ui.layer.disabled = layers.length === 0;
    ui.head.disabled = heads.length === 0;
    if (layers.length === 0) {
      ui.layer.replaceChildren(option("", "none (one map per word)"));
      ui.head.replaceChildren(option("mean", "attention"));
    } else {
      ui.layer.replaceChildren(...layers.map((l) => option(l, String(l))));
      ui.head.replaceChildren(...heads.map((h) => option(h, `head ${h}`)), option("mean", "mean over heads"));
      // Unless the address names a layer, open the one that points best, else the last.
      const best = layers.includes(state.response.pointing_layer) ? state.response.pointing_layer : layers[layers.length - 1];
      ui.layer.value = layers.map(String).includes(String(wish.layer)) ? String(wish.layer) : String(best);
      ui.head.value = [...ui.head.options].some((o) => o.value === String(wish.head)) ? String(wish.head) : "mean";
    }
    const n = state.response.output_tokens.length;
    step = Number.isInteger(wish.step) && wish.step >= 0 && wish.step < n ? wish.step : 0;
    return;
  }
  ui.layer.disabled = false;
  ui.head.disabled = false;
  const layers = [...new Set(maps.map((m) => m.layer))];
  const heads = [...new Set(maps.filter((m) => m.kind === "cls" && m.head !== null).map((m) => m.head))];
  ui.layer.replaceChildren(...layers.map((l) => option(l, String(l))));
  ui.head.replaceChildren(...heads.map((h) => option(h, `head ${h}`)), option("mean", "mean over heads"), option("rollout", "rollout"));
  ui.layer.value = layers.map(String).includes(String(wish.layer)) ? String(wish.layer) : String(layers[layers.length - 1]);
  ui.head.value = [...ui.head.options].some((o) => o.value === String(wish.head)) ? String(wish.head) : "mean";
}

function describeResult() {
  const r = state.response;
  const p = r.preprocessing;
  const [H, W] = r.image_size;
  const [h, w] = r.grid;
  const [iH, iW] = r.input_size;
  const box = p.crop_box.map((v) => Math.round(v * 10) / 10).join(", ");
  const notes = [];
  if (p.exif_orientation !== 1) notes.push(`EXIF orientation ${p.exif_orientation} applied`);
  if (p.multi_frame) notes.push("first frame only");
  if (p.alpha_composited) notes.push("transparency composited on white");
  if (!state.photo) notes.push("this browser cannot display the file, so a grey box stands in for it");
  ui.geometry.textContent = `${p.format} ${W} x ${H} px; the crop box [${box}] (left, top, right, bottom) was resized `
    + `${p.resample}ly to ${iW} x ${iH} px = ${w} x ${h} patches. ${notes.join("; ")}${notes.length ? "." : ""}`;
  // ViT artifact tokens only: a CNN grid (or a model without patch norms) has none to flag, so no note and no toggle.
  const flagged = r.artifact_rule !== null;
  ui.artifactNote.hidden = !flagged;
  ui.hideArtifacts.closest("label").hidden = !flagged;
  if (!flagged) ui.hideArtifacts.checked = false;
  const n = r.artifact_patches.length;
  ui.artifactCount.textContent = n === 0
    ? "None in this image by the rule used (patch norm over 2 x the median)."
    : `${n} in this image (outlined in cyan while shown).`;
}

// The selection a new answer should keep where it still applies.
function currentView() {
  return state ? { layer: ui.layer.value, head: ui.head.value, step: isCaption() ? step : null } : {};
}

// ---- Requests ------------------------------------------------------------------------------

async function run(wish = {}) {
  if (!source) return;
  const { signal, id } = latest.next();
  clearResult();
  clearError(ui.error);
  saveUrl();
  if (sideBySide()) {
    runSide(id);
    return;
  }
  side.hide();
  setBusy(ui.form, true);
  setSamplesBusy(true);
  ui.status.textContent = `Running ${ui.model.value}…`;
  try {
    const body = new FormData();
    body.append("model", ui.model.value);
    body.append("file", source.blob, source.filename);
    const [answer, photo] = await Promise.all([postForm("/api/attention/image", body, { signal }), decodePhoto(source.blob)]);
    if (!latest.current(id)) {
      URL.revokeObjectURL(photo[1]);
      return;
    }
    show(answer, photo, wish);
  } catch (err) {
    if (isAbort(err) || !latest.current(id)) return;
    failed(err);
  }
}

// Draws an answer (fresh, or opened from the store) over its decoded photo [img | null, objectURL].
function show(answer, [img, url], wish, summary = "") {
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = url;
  const [H, W] = answer.image_size;
  state = { response: answer, photo: img && img.naturalWidth === W && img.naturalHeight === H ? img : null,
    model: ui.model.value };
  ui.result.hidden = false;
  const [h, w] = answer.grid;
  const empty = isCaption() && answer.output_tokens.length === 0;
  ui.views.hidden = empty || answer.maps.length === 0;
  ui.controls.hidden = ui.views.hidden;
  drawCaption();
  setBusy(ui.form, false);
  setSamplesBusy(false);
  if (ui.views.hidden) {
    ui.status.textContent = empty ? "The model generated an empty caption: there is no word to show a map for." : "No maps.";
    saveUrl();
    return;
  }
  fillSelectors(wish);
  describeResult();
  drawCaption();
  drawThumbs();
  drawMain();
  explainer.prepare();
  ablation.prepare();
  const said = isCaption() ? `Caption of ${answer.output_tokens.length} words: ` : "";
  ui.status.textContent = `${summary}${said}${answer.maps.length} maps over ${h} x ${w} patches.`;
}

// Every captioner on the photo, one card each (image_side.js); the form is busy until all have answered.
async function runSide(id) {
  setBusy(ui.form, true);
  setSamplesBusy(true);
  const captioners = models.filter((m) => m.task === "captioning");
  await side.run(captioners, source, source.sample ? sampleOf(source.sample) : null);
  if (!latest.current(id)) return;
  setBusy(ui.form, false);
  setSamplesBusy(false);
}

// A saved result: its answer and its stored photo, drawn without asking the model again.
async function openSaved(resultId, wish = {}) {
  const { signal, id } = latest.next();
  clearResult();
  clearError(ui.error);
  setView(false);
  side.hide();
  ui.status.textContent = "Opening the saved result…";
  try {
    const saved = await getJSON(`/api/results/${encodeURIComponent(resultId)}`, { signal });
    if (saved.kind !== "image" || !saved.image_url) throw new Error("This saved result is not an image result: open it from the text page.");
    if (!models.some((m) => m.id === saved.model)) {
      throw new Error(`This result was saved with ${saved.model}, which this server no longer offers.`);
    }
    const r = await fetch(saved.image_url, { signal });
    if (!r.ok) throw new Error(`The saved photo could not be loaded (HTTP ${r.status}).`);
    const blob = await r.blob();
    if (!latest.current(id)) return;
    ui.model.value = saved.model;
    describeModel();
    source = { blob, filename: "saved.jpg", sample: null, savedId: saved.id };
    for (const b of sampleButtons()) b.setAttribute("aria-pressed", "false");
    showPreview(blob);
    const photo = await decodePhoto(blob);
    if (!latest.current(id)) {
      URL.revokeObjectURL(photo[1]);
      return;
    }
    const when = new Date(saved.created * 1000).toISOString().slice(0, 16).replace("T", " ");
    show(saved.result, photo, wish, `Saved result of ${when} UTC. `);
    if (saved.note) {
      ui.savedNote.textContent = saved.note;
      ui.savedNote.hidden = false;
    }
  } catch (err) {
    if (isAbort(err) || !latest.current(id)) return;
    failed(err.status === 404 ? new Error("No saved result with this id: it was deleted, or the link is mistyped.") : err);
  }
}

async function saveResult() {
  if (!state || !source) return;
  const mine = state;
  ui.save.disabled = true;
  ui.status.textContent = "Saving…";
  try {
    const body = new FormData();
    body.append("model", mine.model);
    body.append("file", source.blob, source.filename);
    const saved = await postForm("/api/results/image", body);
    if (state !== mine) return;
    source.savedId = saved.id;
    saveUrl();
    const view = new URLSearchParams({ layer: ui.layer.value, head: ui.head.value });
    if (isCaption()) view.set("step", String(step));
    showSaved(ui, saved, view);
  } catch (err) {
    if (state === mine) showError(ui.error, `Saving failed: ${message(err)}`);
  } finally {
    ui.save.disabled = false;
  }
}

// ---- Export --------------------------------------------------------------------------------

// The photo with the map as drawn (PNG, SVG with the caption as text), and the map's numbers (rows x columns of
// patches) as CSV, JSON (the API's map) and .npz.
function figure() {
  const map = state ? currentMap() : null;
  if (!map) return null;
  const input = source && source.sample ? `sample photo ${source.sample}` : (source ? source.filename : "photo");
  const words = isCaption() ? state.response.output_tokens : null;
  const kind = map.kind === "spatial" ? `cross-attention for "${words[map.step]}"` : (map.kind === "rollout" ? "rollout" : "class token");
  const head = map.head === null ? (map.kind === "rollout" ? "all heads" : "mean over heads") : `head ${map.head}`;
  const caption = captionOf({ model: state.model, input, kind, layer: map.layer ?? "-", head });
  const [h, w] = map.shape;
  const rows = Array.from({ length: h }, (_, r) => `row ${r}`);
  const cols = Array.from({ length: w }, (_, c) => `col ${c}`);
  const which = map.kind === "spatial" ? `word${map.step}-${ui.head.value}` : ui.head.value;
  const notes = words ? [`Caption: ${words.join(" ")}`, `Word ${map.step + 1}: "${words[map.step]}"`] : [];
  return {
    name: `attnviz-${state.model}-L${map.layer ?? "x"}-${which}`.replace(/[^\w.-]+/g, ""),
    svg: () => canvasSvg({ canvas: ui.canvas, title: mapName(map)[0].toUpperCase() + mapName(map).slice(1), caption, notes }),
    csv: () => mapCsv({ z: map.values, x: cols, y: rows }),
    npz: () => arraysNpz([["values", map.values]], [["row_tokens", rows], ["col_tokens", cols], ...(words ? [["caption", words]] : [])]),
    json: () => ({ model: state.model, input, caption, output_tokens: words, image_size: state.response.image_size,
      grid: state.response.grid, crop_box: state.response.preprocessing.crop_box, map }),
  };
}

function showPreview(blob) {
  const url = URL.createObjectURL(blob);
  ui.preview.onload = () => URL.revokeObjectURL(url);
  ui.preview.onerror = () => {
    URL.revokeObjectURL(url);
    ui.preview.hidden = true;
  };
  ui.preview.src = url;
  ui.preview.hidden = false;
}

function runFile(file) {
  if (!file) return;
  source = { blob: file, filename: file.name || "upload", sample: null, savedId: null };
  for (const b of sampleButtons()) b.setAttribute("aria-pressed", "false");
  showPreview(file);
  run(currentView());
}

async function runSample(name, wish = {}) {
  latest.cancel();
  clearResult();
  clearError(ui.error);
  ui.status.textContent = `Loading sample ${name}…`;
  try {
    const r = await fetch(`/api/samples/${encodeURIComponent(name)}`);
    if (!r.ok) throw new Error(`Could not load sample ${name} (HTTP ${r.status}).`);
    const blob = await r.blob();
    source = { blob, filename: `${name}.${blob.type === "image/png" ? "png" : "jpg"}`, sample: name, savedId: null };
    ui.file.value = "";
    for (const b of sampleButtons()) b.setAttribute("aria-pressed", String(b.dataset.sample === name));
    showPreview(blob);
    await run(wish);
  } catch (err) {
    failed(err);
  }
}

// The gallery: real photos in one row, held-out composed scenes in another, each marked with what a captioner
// should find in it. The list holds the photos the gallery leaves out too (offered: false), so a link from the
// /eval page opens one of them with what it expects; they get no button.
async function loadSamples() {
  samples = await getJSON("/api/samples?all=true");
  galleryNote(samples);
  const button = (s) => {
    const b = el("button", { type: "button", class: "secondary sample", dataset: { sample: s.name, kind: s.kind },
      title: `${s.source}; ${s.license}` }, el("span", {}, s.title),
    s.expect.length ? el("span", { class: "sample-expect" }, `expect: ${s.expect.join(", ")}`) : null);
    b.addEventListener("click", () => runSample(s.name, currentView()));
    return b;
  };
  ui.samples.replaceChildren(...samples.filter((s) => s.kind !== "scene" && s.offered !== false).map(button));
  const scenes = samples.filter((s) => s.kind === "scene" && s.offered !== false);
  ui.sceneSamples.replaceChildren(...scenes.map(button));
  ui.sceneRow.hidden = !scenes.length;
  return samples;
}

// How the gallery was chosen, and where the photos it leaves out are (the /eval page lists every one).
async function galleryNote(list) {
  ui.galleryNote.hidden = true;
  if (!list.some((s) => s.offered === false)) return; // no choice made here: every sample is offered
  let report = null;
  try {
    report = await getJSON("/api/reports/gallery");
  } catch {
    return; // no report: no note (the gallery then offers every sample)
  }
  const photos = (report.photos || []).filter((p) => p.in_vocabulary);
  const named = photos.filter((p) => p.named).length;
  ui.galleryNote.replaceChildren(`A selection: the real photos here are the evaluation photos whose main object `
    + `${report.captioner} names (${named} of ${photos.length}; the ${photos.length - named} it misses are not `
    + "offered), and the "
    + "scenes are held-out scenes whose every object it names. ",
  el("a", { href: "/eval#gallery-title" }, "Every evaluation photo, misses included"),
  " \u2014 or upload your own.");
  ui.galleryNote.hidden = false;
}

// ---- Events --------------------------------------------------------------------------------

function describeModel() {
  const m = models.find((x) => x.id === ui.model.value);
  ui.modelNote.textContent = sideBySide()
    ? "Side by side runs every captioner on the photo; the model picker applies to the one-model view."
    : (m ? `${m.description}. ${m.notes}` : "");
}

// One model's maps, or every captioner side by side: the model picker only matters for the first.
function setView(all) {
  $(`input[name="view"][value="${all ? "side" : "one"}"]`).checked = true;
  ui.model.disabled = all;
  describeModel();
}

ui.form.addEventListener("submit", (e) => e.preventDefault());
ui.file.addEventListener("change", () => runFile(ui.file.files[0]));
for (const type of ["dragenter", "dragover"]) {
  ui.dropzone.addEventListener(type, (e) => {
    e.preventDefault();
    ui.dropzone.classList.add("dragging");
  });
}
for (const type of ["dragleave", "drop"]) ui.dropzone.addEventListener(type, () => ui.dropzone.classList.remove("dragging"));
ui.dropzone.addEventListener("drop", (e) => {
  e.preventDefault();
  const file = e.dataTransfer && e.dataTransfer.files[0];
  if (file) runFile(file);
});
for (const radio of $$('input[name="view"]')) {
  radio.addEventListener("change", () => {
    setView(sideBySide());
    if (!source) {
      side.hide();
      saveUrl();
    } else if (!sideBySide() && source.savedId) openSaved(source.savedId);
    else run(currentView());
  });
}
ui.showProbs.addEventListener("change", () => {
  if (isCaption()) drawCaption();
});
ui.model.addEventListener("change", () => {
  describeModel();
  if (source) run(currentView());
  else saveUrl();
});
ui.layer.addEventListener("change", () => {
  drawThumbs();
  drawMain();
});
ui.head.addEventListener("change", () => {
  if (isCaption()) drawThumbs(); // the word strip follows the selected head
  drawMain();
});
ui.opacity.addEventListener("input", drawMain);
ui.hideArtifacts.addEventListener("change", () => {
  drawThumbs();
  drawMain();
});
ui.canvas.addEventListener("mousemove", (e) => {
  if (!state) return;
  const map = currentMap();
  if (!map) return;
  const rect = ui.canvas.getBoundingClientRect();
  const s = ui.canvas.width / state.response.image_size[1];
  const box = cropRect(state.response.preprocessing.crop_box, s);
  const x = ((e.clientX - rect.left) * ui.canvas.width) / rect.width - box.x;
  const y = ((e.clientY - rect.top) * ui.canvas.height) / rect.height - box.y;
  const [h, w] = map.shape;
  const r = Math.floor((y / box.h) * h);
  const c = Math.floor((x / box.w) * w);
  ui.readout.textContent = r >= 0 && r < h && c >= 0 && c < w
    ? `Patch (row ${r}, column ${c}): weight ${map.values[r][c].toFixed(5)}`
    : "Outside the crop box: the model never saw this part.";
});
ui.save.addEventListener("click", saveResult);

// ---- Explain and ablation (image_explain.js) ---------------------------------------------------

// The same map of another answer (an ablated run): same kind, layer, head and caption word.
function findIn(answer, map) {
  return answer.maps.find((m) => m.kind === map.kind && m.layer === map.layer && m.head === map.head
    && (m.kind !== "spatial" || (m.step === map.step && answer.output_tokens[m.step] === state.response.output_tokens[m.step]))) || null;
}
const imageState = () => ({
  model: state ? models.find((m) => m.id === state.model) : null, response: state ? state.response : null, source,
  step, layer: selectedLayer(), head: ui.head.value, photo: state ? state.photo : null,
  selectedMap: () => (state ? currentMap() : null), findIn,
});
const onStatus = (text) => { ui.status.textContent = text; };
const explainer = createImageExplain({ ui: xui, current: imageState, onStatus });
const ablation = createImageAblation({ ui: xui, current: imageState, onStatus });
xui.explainRun.addEventListener("click", () => explainer.run());
wireExport($("#export-explain"), () => explainer.figure(), (text) => showError(ui.error, text));
xui.ablateRun.addEventListener("click", () => ablation.run());
wireExport($("#export-main"), figure, (text) => showError(ui.error, text));
$("#copy-link").addEventListener("click", () => {
  saveUrl();
  const uploaded = source && !source.sample && !source.savedId;
  copyLink(ui.status, uploaded
    ? "The photo itself is not in the link: whoever opens it must upload the photo again (or use Save permanent link)."
    : "");
});

async function start() {
  $("#colorbar").style.background = heatGradient;
  const wish = readState(SCHEMA);
  try {
    models = await fillPicker(ui.model, ["vision", "captioning"], wish.model, ui.unavailable);
  } catch (err) {
    showError(ui.error, message(err));
    return;
  }
  setView(wish.view === "side" && !wish.result);
  await loadSamples().catch(() => []);
  if (wish.result) {
    openSaved(wish.result, { layer: wish.layer, head: wish.head, step: wish.step });
  } else if (wish.sample && samples.some((s) => s.name === wish.sample)) {
    runSample(wish.sample, { layer: wish.layer, head: wish.head, step: wish.step });
  } else if (wish.layer !== null || wish.head !== null) {
    // A link copied after an upload: the photo never travels in a link.
    ui.status.textContent = "This link was made after an upload: upload the photo again (or pick a sample) to see its maps.";
  }
}
start();
