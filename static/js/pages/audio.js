// The audio page: a clip (upload, microphone or sample) -> POST /api/attention/audio -> the words on the
// waveform and spectrogram, the selected word's cross-attention under them, the tokens x frames heatmaps of
// the chosen layer and head (alignment heads marked), and the encoder's map fetched when opened.

import { ApiError, Latest, getJSON, isAbort, postForm } from "../lib/api.js";
import { $, clearError, el, option, setBusy, showError } from "../lib/dom.js";
import { HEAT_LUT } from "../lib/colours.js";
import { drawDifference, drawHeatmap } from "../lib/heatmap.js";
import { decodeMap } from "../lib/math.js";
import { fillHeadCheckboxes } from "../lib/head_checkboxes.js";
import { fillPicker } from "../lib/model_picker.js";
import { readState, writeState } from "../lib/url_state.js";

const ui = {
  form: $("#audio-form"), model: $("#model"), file: $("#file"), record: $("#record"), samples: $("#samples"),
  status: $("#status"), error: $("#error"), result: $("#result"), words: $("#words"), layer: $("#layer"),
  head: $("#head"), alignNote: $("#alignment-note"), wave: $("#waveform"), spec: $("#spectrogram"),
  strip: $("#word-attention"), cross: $("#cross-map"), self: $("#self-map"), encDetails: $("#encoder-details"),
  enc: $("#encoder-map"), covers: $("#covers"), unavailable: $("#unavailable"), ablation: $("#audio-ablation"),
  ablateGrids: $("#audio-ablate-grids"), ablateRun: $("#audio-ablate-run"), ablateResult: $("#audio-ablate-result"),
  ablateDiff: $("#audio-ablate-diff"),
};
const KIND_NAMES = { encoder_self: "Encoder self-attention", decoder_self: "Decoder self-attention", cross: "Cross-attention" };
const SCHEMA = { model: { type: "string" }, sample: { type: "string" }, layer: { type: "int" },
  head: { type: "int" }, word: { type: "int" } };
const MEAN = -1; // the head choice "mean of the alignment heads"
const state = { clip: null, sample: null, answer: null, layer: 3, head: MEAN, word: 0, models: [] };
const latest = new Latest();
const encoderLatest = new Latest();
const ablateLatest = new Latest();

// --- drawing ---

function sizeCanvas(canvas, height) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(200, canvas.clientWidth || canvas.parentElement.clientWidth);
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, width, height };
}

function drawWaveform(answer) {
  const { ctx, width, height } = sizeCanvas(ui.wave, 110);
  const { min, max } = answer.waveform;
  const seconds = answer.audio_frames * answer.frame_seconds;
  const x = (t) => (t / seconds) * width;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  answer.words.forEach((w, i) => { // each word's span, the selected one highlighted
    ctx.fillStyle = i === state.word ? "rgba(242,169,0,0.35)" : i % 2 ? "#eef2f7" : "#f6f8fb";
    ctx.fillRect(x(w.start), 0, Math.max(1, x(w.end) - x(w.start)), height);
  });
  const mid = height / 2 + 8;
  ctx.fillStyle = "#3b6ea8";
  for (let i = 0; i < min.length; i++) {
    const px = (i / min.length) * width;
    ctx.fillRect(px, mid - max[i] * 40, Math.max(1, width / min.length), Math.max(1, (max[i] - min[i]) * 40));
  }
  ctx.font = "12px system-ui, sans-serif";
  ctx.textBaseline = "top";
  answer.words.forEach((w, i) => {
    ctx.fillStyle = i === state.word ? "#8a5a00" : "#1b2430";
    ctx.fillText(w.word.trim(), x(w.start) + 2, 2 + (i % 2) * 13);
    ctx.fillStyle = "#8a5a00";
    ctx.fillRect(x(w.start), 0, 1, height);
  });
  ui.wave.dataset.words = String(answer.words.length);
}

function drawSpectrogram(answer) {
  const mel = decodeMap({ ...answer.mel }).values; // 80 bins x 10 ms frames
  const bins = mel.length, frames = mel[0].length;
  const { ctx, width, height } = sizeCanvas(ui.spec, 120);
  const image = new ImageData(frames, bins);
  let lo = Infinity, hi = -Infinity;
  for (const row of mel) for (const v of row) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  for (let b = 0; b < bins; b++) {
    for (let f = 0; f < frames; f++) {
      const t = Math.round(((mel[b][f] - lo) / (hi - lo || 1)) * 255);
      const o = ((bins - 1 - b) * frames + f) * 4; // lowest bin at the bottom
      image.data.set([HEAT_LUT[3 * t], HEAT_LUT[3 * t + 1], HEAT_LUT[3 * t + 2], 255], o);
    }
  }
  const cells = document.createElement("canvas");
  cells.width = frames;
  cells.height = bins;
  cells.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(cells, 0, 0, width, height);
  ui.spec.dataset.drawn = String(Number(ui.spec.dataset.drawn || 0) + 1);
}

// The selected word's cross-attention row (the step that wrote its first token) over the clip's frames: the
// chosen layer and head, or the mean of the alignment heads (the heads that time the words, in any layer).
function wordRow(answer) {
  const word = answer.words[state.word];
  if (!word) return null;
  const row = word.tokens[0];
  const maps = crossMaps(answer);
  const rows = maps.map((m) => decodeMap(m).values[row]);
  const frames = answer.audio_frames;
  const out = new Float32Array(frames);
  for (const r of rows) for (let f = 0; f < frames; f++) out[f] += r[f] / rows.length;
  return out;
}

function crossMaps(answer) {
  const cross = answer.maps.filter((m) => m.kind === "cross");
  if (state.head === MEAN) {
    const heads = answer.alignment_heads.map(([l, h]) => `${l}:${h}`);
    return cross.filter((m) => heads.includes(`${m.layer}:${m.head}`));
  }
  return cross.filter((m) => m.layer === state.layer && m.head === state.head);
}

function drawWordAttention(answer) {
  const { ctx, width, height } = sizeCanvas(ui.strip, 90);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  const row = wordRow(answer);
  if (!row) return;
  const top = Math.max(...row) || 1;
  ctx.fillStyle = "#c0392b";
  for (let f = 0; f < row.length; f++) {
    const h = (row[f] / top) * (height - 16);
    ctx.fillRect((f / row.length) * width, height - h, Math.max(1, width / row.length), h);
  }
  ctx.fillStyle = "#1b2430";
  ctx.font = "12px system-ui, sans-serif";
  ctx.textBaseline = "top";
  const w = answer.words[state.word];
  const which = state.head === MEAN ? "mean of the alignment heads" : `layer ${state.layer}, head ${state.head}`;
  ctx.fillText(`Cross-attention while writing "${w.word.trim()}" (${which})`, 4, 2);
  ui.strip.dataset.word = String(state.word);
}

// The colour scale spans the audio frames: the last column (the silence padding) can hold most of a row's weight.
function heatmapOf(target, map, title) {
  const m = decodeMap(map);
  const padded = m.col_tokens[m.col_tokens.length - 1] === "padding";
  let top = 0;
  for (const row of m.values) for (let c = 0; c < row.length - (padded ? 1 : 0); c++) top = Math.max(top, row[c]);
  return drawHeatmap(target, { z: m.values, x: m.col_tokens, y: m.row_tokens, title, height: 380, zmin: 0,
    zmax: top || 1 });
}

// The head the heatmaps show: the chosen one, or with the alignment-head mean chosen, this layer's first one.
function shownHead(answer) {
  return state.head === MEAN ? answer.alignment_heads.find(([l]) => l === state.layer)?.[1] ?? 0 : state.head;
}

function drawMaps(answer) {
  const layer = state.layer;
  const head = shownHead(answer);
  const pick = (kind) => answer.maps.find((m) => m.kind === kind && m.layer === layer && m.head === head);
  const mark = (l, h) => (answer.alignment_heads.some(([a, b]) => a === l && b === h) ? " (alignment head)" : "");
  heatmapOf(ui.cross, pick("cross"), `Cross-attention, layer ${layer} head ${head}${mark(layer, head)}`);
  heatmapOf(ui.self, pick("decoder_self"), `Decoder self-attention, layer ${layer} head ${head}`);
  if (ui.encDetails.open) loadEncoder(layer, head);
}

function draw() {
  const answer = state.answer;
  if (!answer) return;
  drawWaveform(answer);
  drawSpectrogram(answer);
  drawWordAttention(answer);
  drawMaps(answer);
  for (const b of ui.words.querySelectorAll("button")) b.setAttribute("aria-pressed", String(Number(b.dataset.word) === state.word));
  writeState({ model: ui.model.value, sample: state.sample, layer: state.layer, head: state.head === MEAN ? null : state.head,
    word: state.word || null });
}

async function loadEncoder(layer, head) {
  const { signal, id } = encoderLatest.next();
  ui.enc.replaceChildren(el("p", { class: "hint" }, "Fetching the encoder map..."));
  try {
    const body = await postForm("/api/attention/audio", form({ kinds: "encoder_self", layers: String(layer), heads: String(head) }), { signal });
    if (!encoderLatest.current(id)) return;
    ui.enc.replaceChildren();
    await heatmapOf(ui.enc, body.maps[0], `Encoder self-attention, layer ${layer} head ${head}`);
  } catch (err) {
    if (!isAbort(err)) ui.enc.replaceChildren(el("p", { class: "error" }, err.message));
  }
}

// --- heads switched off (POST /api/attention/audio with "ablate") ---

const checkedHeads = () => [...ui.ablateGrids.querySelectorAll("input:checked")]
  .map((b) => [b.dataset.kind, Number(b.dataset.layer), Number(b.dataset.head)]);

function syncAblation() {
  const n = checkedHeads().length;
  ui.ablateRun.disabled = n === 0;
  ui.ablateRun.textContent = n ? `Run without the ${n} checked head${n === 1 ? "" : "s"}` : "Run without the checked heads";
}

// One layer x head checkbox grid per attention kind of the chosen model (from GET /api/models).
function prepareAblation() {
  const model = state.models.find((m) => m.id === ui.model.value);
  const ok = Boolean(model && (model.options || []).includes("ablate"));
  ui.ablation.hidden = !ok;
  ui.ablateResult.replaceChildren();
  ui.ablateDiff.hidden = true;
  if (!ok || ui.ablateGrids.dataset.model === model.id) { syncAblation(); return; }
  ui.ablateGrids.dataset.model = model.id;
  ui.ablateGrids.replaceChildren(...model.attention_shapes.map((shape) => {
    const name = KIND_NAMES[shape.kind] || shape.kind;
    const grid = el("div", { class: "ablate-grid", role: "group", "aria-label": `${name} heads to switch off` });
    fillHeadCheckboxes(grid, { layers: shape.layers, heads: shape.heads, kind: shape.kind, name, onChange: syncAblation });
    return el("fieldset", { class: "ablate-kind" }, el("legend", {}, name), grid);
  }));
  syncAblation();
}

// The clip again with the checked heads off: both transcripts, and when the tokens match, the difference of the
// cross-attention map shown above (heads off minus every head on).
async function runAblation() {
  const before = state.answer;
  const heads = checkedHeads();
  if (!before || !heads.length) return;
  const layer = state.layer, head = shownHead(before);
  const { signal, id } = ablateLatest.next();
  ui.ablateRun.disabled = true;
  ui.ablateResult.replaceChildren(el("p", { class: "hint" }, `Running with ${heads.length} heads off...`));
  try {
    const answer = await postForm("/api/attention/audio", form({ ablate: JSON.stringify(heads), kinds: "cross",
      layers: String(layer), heads: String(head) }), { signal });
    if (!ablateLatest.current(id)) return;
    const n = `${heads.length} head${heads.length === 1 ? "" : "s"}`;
    ui.ablateResult.replaceChildren(
      el("p", {}, el("strong", {}, "With every head: "), before.transcript || "(no words)"),
      el("p", {}, el("strong", {}, `Without ${n}: `), answer.transcript || "(no words)"),
      el("p", { class: "hint" }, answer.transcript === before.transcript ? "The transcript is the same." : "The transcript changed."));
    ui.ablateResult.dataset.transcript = answer.transcript;
    const old = before.maps.find((m) => m.kind === "cross" && m.layer === layer && m.head === head);
    const now = answer.maps[0];
    const same = (a, b) => a.join("\u0001") === b.join("\u0001");
    if (!old || !now || !same(old.row_tokens, now.row_tokens)) {
      ui.ablateDiff.hidden = true;
      ui.ablateResult.append(el("p", { class: "hint" }, "The tokens changed, so there is no cell-by-cell difference map: compare the transcripts."));
      return;
    }
    drawDifference(ui.ablateDiff, decodeMap(old).values, decodeMap(now).values, { x: now.col_tokens, y: now.row_tokens,
      title: `Cross-attention L${layer} H${head}: heads off − all on` });
  } catch (err) {
    if (isAbort(err) || !ablateLatest.current(id)) return;
    ui.ablateResult.replaceChildren(el("p", { class: "error-text" }, `Ablation failed: ${err.message}`));
  } finally {
    if (ablateLatest.current(id)) syncAblation();
  }
}

// --- controls ---

function fillControls(answer) {
  const layers = [...new Set(answer.maps.map((m) => m.layer))];
  const heads = [...new Set(answer.maps.map((m) => m.head))];
  ui.layer.replaceChildren(...layers.map((l) => option(l, String(l))));
  const aligned = answer.alignment_heads;
  ui.head.replaceChildren(option(MEAN, "Mean of the alignment heads"),
    ...heads.map((h) => option(h, String(h))));
  for (const o of ui.head.options) {
    const h = Number(o.value);
    if (h !== MEAN && aligned.some(([l, hh]) => l === state.layer && hh === h)) o.textContent = `${h} (alignment head)`;
  }
  ui.layer.value = String(state.layer);
  ui.head.value = String(state.head);
  ui.alignNote.textContent = `Alignment heads (layer, head), which time the words: ${aligned.map(([l, h]) => `(${l}, ${h})`).join(", ")}.`;
}

function showAnswer(answer) {
  state.answer = answer;
  state.word = Math.min(state.word, Math.max(0, answer.words.length - 1));
  ui.words.replaceChildren(...answer.words.map((w, i) => el("button", {
    type: "button", class: "secondary caption-word", dataset: { word: i },
    title: `${w.start.toFixed(2)}-${w.end.toFixed(2)} s, p = ${w.probability.toFixed(2)}`,
    onclick: () => { state.word = i; draw(); },
  }, w.word.trim())));
  if (!answer.words.length) ui.words.replaceChildren(el("em", {}, "(the model heard no words)"));
  ui.covers.textContent = answer.covers;
  ui.result.hidden = false;
  prepareAblation();
  fillControls(answer);
  draw();
}

function form(extra = {}) {
  const data = new FormData();
  data.append("model", ui.model.value);
  data.append("file", state.clip, "clip");
  for (const [k, v] of Object.entries(extra)) data.append(k, v);
  return data;
}

async function run() {
  if (!state.clip) return;
  const { signal } = latest.next();
  clearError(ui.error);
  ui.result.hidden = true;
  state.answer = null;
  ui.status.textContent = "Listening...";
  setBusy(ui.form, true);
  try {
    const answer = await postForm("/api/attention/audio", form(), { signal });
    ui.status.textContent = `${answer.audio.duration_s.toFixed(1)} s of ${answer.audio.format}, ${answer.words.length} words.`;
    showAnswer(answer);
  } catch (err) {
    if (isAbort(err)) return;
    ui.status.textContent = "";
    showError(ui.error, err instanceof ApiError ? err.message : String(err));
  } finally {
    setBusy(ui.form, false);
  }
}

async function useSample(name) {
  state.sample = name;
  const r = await fetch(`/api/audio-samples/${encodeURIComponent(name)}`);
  if (!r.ok) { showError(ui.error, `Sample ${name} is not available here.`); return; }
  state.clip = await r.blob();
  await run();
}

// --- microphone: MediaRecorder's WebM/Ogg decoded by the browser, sent as 16-bit mono WAV ---

function wavOf(buffer) {
  const data = buffer.getChannelData(0);
  const out = new DataView(new ArrayBuffer(44 + 2 * data.length));
  const text = (o, s) => [...s].forEach((c, i) => out.setUint8(o + i, c.charCodeAt(0)));
  text(0, "RIFF"); out.setUint32(4, 36 + 2 * data.length, true); text(8, "WAVE"); text(12, "fmt ");
  out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, 1, true);
  out.setUint32(24, buffer.sampleRate, true); out.setUint32(28, 2 * buffer.sampleRate, true);
  out.setUint16(32, 2, true); out.setUint16(34, 16, true); text(36, "data"); out.setUint32(40, 2 * data.length, true);
  for (let i = 0; i < data.length; i++) out.setInt16(44 + 2 * i, Math.max(-1, Math.min(1, data[i])) * 32767, true);
  return new Blob([out.buffer], { type: "audio/wav" });
}

let recorder = null;
async function toggleRecording() {
  if (recorder) { recorder.stop(); return; }
  if (!navigator.mediaDevices?.getUserMedia) { showError(ui.error, "This browser cannot record audio here."); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      recorder = null;
      ui.record.textContent = "Record";
      const context = new AudioContext();
      const buffer = await context.decodeAudioData(await new Blob(chunks).arrayBuffer());
      state.clip = wavOf(buffer);
      state.sample = null;
      await run();
    };
    recorder.start();
    ui.record.textContent = "Stop";
    ui.status.textContent = "Recording... press Stop when done (at most 30 s).";
  } catch (err) {
    showError(ui.error, `The microphone could not be used: ${err.message}`);
  }
}

// --- start ---

async function start() {
  const wanted = readState(SCHEMA);
  state.models = await fillPicker(ui.model, ["speech"], wanted.model, ui.unavailable);
  state.layer = wanted.layer ?? 3;
  state.head = wanted.head ?? MEAN;
  state.word = wanted.word ?? 0;
  ui.file.addEventListener("change", () => {
    if (!ui.file.files.length) return;
    state.clip = ui.file.files[0];
    state.sample = null;
    run();
  });
  ui.record.addEventListener("click", toggleRecording);
  ui.model.addEventListener("change", run);
  ui.layer.addEventListener("change", () => { state.layer = Number(ui.layer.value); fillControls(state.answer); draw(); });
  ui.head.addEventListener("change", () => { state.head = Number(ui.head.value); draw(); });
  ui.ablateRun.addEventListener("click", runAblation);
  ui.encDetails.addEventListener("toggle", () => { if (ui.encDetails.open && state.answer) drawMaps(state.answer); });
  window.addEventListener("resize", () => { if (state.answer) { drawWaveform(state.answer); drawSpectrogram(state.answer); drawWordAttention(state.answer); } });
  const samples = await getJSON("/api/audio-samples");
  ui.samples.replaceChildren(...samples.map((s) => el("button", {
    type: "button", class: "secondary sample", dataset: { sample: s.name }, title: `${s.source} (${s.license})`,
    onclick: () => useSample(s.name),
  }, s.title.length > 40 ? `${s.title.slice(0, 38)}...` : s.title)));
  if (!samples.length) ui.samples.append(el("span", { class: "hint" }, "No sample clips here (Debian pocketsphinx-testdata)."));
  if (wanted.sample) await useSample(wanted.sample);
}

start().catch((err) => showError(ui.error, err.message));
