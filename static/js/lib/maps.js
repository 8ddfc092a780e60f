// Attention maps fetched, decoded and summarised in a module Web Worker (lib/maps_worker.js), so a
// 512-token answer never blocks the page. Each answer has an id: the worker keeps only the current
// answer's maps. Without Worker support everything runs here instead, with the same results.

import { ApiError, getJSON, postJSON } from "./api.js";
import { argmaxAgreement, combine, decodeMap, headMean, headStats, mergeWords, rolloutAll } from "./math.js";

let worker = null;
let nextId = 0;
const waiting = new Map();
const local = { answer: null, store: new Map() }; // the fallback's store

function getWorker() {
  if (worker === null && typeof Worker === "function") {
    worker = new Worker(new URL("./maps_worker.js", import.meta.url), { type: "module" });
    worker.onmessage = (event) => {
      const { id, error, ...result } = event.data;
      const job = waiting.get(id);
      if (!job) return;
      waiting.delete(id);
      if (error) job.reject(new ApiError(error.status, error.message, error.detail));
      else job.resolve(result);
    };
  }
  return worker;
}

function ask(message, signal) {
  const w = getWorker();
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    if (signal) {
      if (signal.aborted) {
        reject(new DOMException("superseded", "AbortError"));
        return;
      }
      signal.addEventListener("abort", () => {
        waiting.delete(id);
        w.postMessage({ type: "cancel", id });
        reject(new DOMException("superseded", "AbortError"));
      }, { once: true });
    }
    waiting.set(id, { resolve, reject });
    w.postMessage({ ...message, id });
  });
}

const rowsOf = (flat, rows, cols) => Array.from({ length: rows }, (_, i) => flat.subarray(i * cols, (i + 1) * cols));

// A map from the worker: float rows as they are; 8-bit bytes decoded on first use (offset + scale x byte).
function fromWorker(m) {
  const [rows, cols] = m.shape;
  if (m.flat) return { ...m, values: rowsOf(m.flat, rows, cols), flat: undefined };
  const { bytes, ...rest } = m;
  let values = null;
  return Object.defineProperty(rest, "values", {
    enumerable: true,
    get() {
      if (values === null) {
        const flat = new Float32Array(bytes.length);
        for (let i = 0; i < bytes.length; i++) flat[i] = m.offset + m.scale * bytes[i];
        values = rowsOf(flat, rows, cols);
      }
      return values;
    },
  });
}
const mapKey = (m) => `${m.kind}/${m.layer}/${m.head}`;

// When the latest response to `path` finished arriving, in ms since the Unix epoch (Resource Timing).
function responseEnd(path) {
  const entries = performance.getEntriesByType("resource").filter((e) => e.name.endsWith(path));
  const last = entries[entries.length - 1];
  return last ? performance.timeOrigin + last.responseEnd : null;
}

// POSTs `body` to `path` for answer `answer`; resolves to the API's response with every map decoded
// (`values` as rows of Float32Arrays) and `received`: when the response finished arriving (epoch ms).
// body null: GETs a saved result (/api/results/{id}): its stored answer, with `saved` = the rest.
export async function fetchMaps(path, body, { signal, answer }) {
  if (!getWorker()) {
    if (local.answer !== answer) Object.assign(local, { answer, store: new Map() });
    let response;
    if (body === null) {
      const { result, ...saved } = await getJSON(path, { signal });
      response = { ...result, saved };
    } else {
      response = await postJSON(path, body, { signal });
    }
    const received = responseEnd(path);
    const maps = response.maps.map(decodeMap);
    for (const m of maps) local.store.set(mapKey(m), m);
    return { ...response, maps, received };
  }
  const { response, received } = await ask({ type: "fetch", answer, path, body }, signal);
  const maps = response.maps.map(fromWorker);
  return { ...response, maps, received };
}

// Per-head statistics of one layer of answer `answer` (every head loaded): entropy, distance, mass on
// special tokens, agreement with the layer's consensus; on merged words when `merge`.
export async function layerStats({ answer, kind, layer, heads, merge }) {
  if (!getWorker()) {
    const maps = [...Array(heads).keys()].map((h) => local.store.get(`${kind}/${layer}/${h}`));
    const shown = (v) => (merge ? mergeWords(v, maps[0].row_tokens, maps[0].col_tokens) : { values: v, colTokens: maps[0].col_tokens });
    const consensus = shown(combine(maps, "mean")).values;
    return maps.map((m) => {
      const s = shown(m.values);
      return { head: m.head, ...headStats(s.values, s.colTokens), agreement: argmaxAgreement(s.values, consensus) };
    });
  }
  const { rows } = await ask({ type: "stats", answer, kind, layer, heads, merge });
  return rows;
}

// Rollout through every layer of a kind of answer `answer` (all layers loaded): rows per layer.
export async function rolloutOf({ answer, kind, layers, heads }) {
  if (!getWorker()) {
    const byLayer = [...Array(layers).keys()].map((l) => [...Array(heads).keys()].map((h) => local.store.get(`${kind}/${l}/${h}`)));
    return rolloutAll(byLayer.map((maps) => headMean(maps)));
  }
  const { layers: flats } = await ask({ type: "rollout", answer, kind, layers, heads });
  return flats.map((flat) => {
    const n = Math.round(Math.sqrt(flat.length));
    return rowsOf(flat, n, n);
  });
}
