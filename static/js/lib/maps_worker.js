// Off the main thread: fetches attention maps, parses and decodes them (a 512-token answer is tens of
// megabytes of base64), keeps the current answer's maps, and computes per-head statistics over them.
// Messages in: {type: "fetch", id, answer, path, body} | {type: "cancel", id} |
//              {type: "stats", id, answer, kind, layer, heads, merge} | {type: "rollout", id, answer, kind, layers, heads}.
// Out: {id, response, received} | {id, rows} | {id, layers: [Float64Array]} | {id, error: {status, message, detail}}.

import { ApiError, getJSON, postJSON } from "./api.js";
import { argmaxAgreement, combine, decodeMap, headMean, headStats, mergeWords, rolloutAll } from "./math.js";

const controllers = new Map();
let answer = null; // id of the answer whose maps are stored
let store = new Map(); // "kind/layer/head" -> decoded map

const key = (m) => `${m.kind}/${m.layer}/${m.head}`;

// When the latest response to `path` finished arriving, in ms since the Unix epoch (Resource Timing).
function responseEnd(path) {
  const entries = performance.getEntriesByType("resource").filter((e) => e.name.endsWith(path));
  const last = entries[entries.length - 1];
  return last ? performance.timeOrigin + last.responseEnd : null;
}

// A saved result (GET /api/results/{id}, body null) is the stored answer plus what the store says of it.
function savedAnswer(got, body) {
  if (body !== null) return got;
  const { result, ...saved } = got;
  return { ...result, saved };
}

async function fetchMaps({ id, path, body }) {
  const controller = new AbortController();
  controllers.set(id, controller);
  try {
    const response = savedAnswer(body === null ? await getJSON(path, { signal: controller.signal })
      : await postJSON(path, body, { signal: controller.signal }), body);
    if (controller.signal.aborted) return;
    const received = responseEnd(path);
    // 8-bit maps travel on as their bytes (a quarter of the floats); the page decodes one when drawn.
    const maps = response.maps.map((raw) => {
      const map = decodeMap(raw);
      const have = store.get(key(map));
      if (!(have && have.dtype !== "uint8" && map.dtype === "uint8")) store.set(key(map), map);
      const [rows, cols] = map.shape;
      if (map.dtype === "uint8") {
        const bytes = new Uint8Array(rows * cols);
        const bin = atob(raw.data);
        for (let i = 0; i < bytes.length; i++) bytes[i] = bin.charCodeAt(i);
        return { ...map, values: undefined, bytes };
      }
      const flat = new Float32Array(rows * cols);
      map.values.forEach((row, i) => flat.set(row, i * cols));
      return { ...map, values: undefined, flat };
    });
    self.postMessage({ id, response: { ...response, maps }, received });
  } catch (err) {
    if (err && err.name === "AbortError") return;
    const e = err instanceof ApiError ? err : new ApiError(0, String(err && err.message ? err.message : err));
    self.postMessage({ id, error: { status: e.status, message: e.message, detail: e.detail } });
  } finally {
    controllers.delete(id);
  }
}

function stats({ id, kind, layer, heads, merge }) {
  const maps = [];
  for (let h = 0; h < heads; h++) {
    const m = store.get(`${kind}/${layer}/${h}`);
    if (!m) {
      self.postMessage({ id, error: { status: 0, message: `layer ${layer} is not loaded yet`, detail: null } });
      return;
    }
    maps.push(m);
  }
  const shown = (values) => (merge ? mergeWords(values, maps[0].row_tokens, maps[0].col_tokens) : {
    values, rowTokens: maps[0].row_tokens, colTokens: maps[0].col_tokens });
  const consensus = shown(combine(maps, "mean")).values;
  const rows = maps.map((m) => {
    const s = shown(m.values);
    return { head: m.head, ...headStats(s.values, s.colTokens), agreement: argmaxAgreement(s.values, consensus) };
  });
  self.postMessage({ id, rows });
}

// Rollout through every layer of a kind (heads averaged, 0.5 A + 0.5 I, multiplied up), once per answer.
function rollout({ id, kind, layers, heads }) {
  const means = [];
  for (let l = 0; l < layers; l++) {
    const maps = [];
    for (let h = 0; h < heads; h++) maps.push(store.get(`${kind}/${l}/${h}`));
    if (maps.some((m) => !m)) {
      self.postMessage({ id, error: { status: 0, message: `layer ${l} is not loaded yet`, detail: null } });
      return;
    }
    means.push(headMean(maps));
  }
  const n = means[0].length;
  const out = rolloutAll(means).map((rows) => {
    const flat = new Float64Array(n * n);
    rows.forEach((row, i) => flat.set(row, i * n));
    return flat;
  });
  self.postMessage({ id, layers: out }, out.map((f) => f.buffer));
}

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === "cancel") {
    const c = controllers.get(msg.id);
    if (c) c.abort();
    return;
  }
  if (msg.answer !== answer) {
    answer = msg.answer;
    store = new Map();
  }
  if (msg.type === "fetch") fetchMaps(msg);
  else if (msg.type === "stats") stats(msg);
  else if (msg.type === "rollout") rollout(msg);
};
