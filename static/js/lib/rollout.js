// Attention rollout through every layer, computed once per answer in a module Web Worker so that a
// 512-token map never blocks the page; falls back to the main thread where workers are unavailable.

import { headMean, rolloutAll } from "./math.js";

let worker = null;
let nextId = 0;
const waiting = new Map();

function getWorker() {
  if (worker === null && typeof Worker === "function") {
    worker = new Worker(new URL("./rollout_worker.js", import.meta.url), { type: "module" });
    worker.onmessage = (event) => {
      const { id, layers, error } = event.data;
      const job = waiting.get(id);
      if (!job) return;
      waiting.delete(id);
      if (error) job.reject(new Error(error));
      else job.resolve(layers.map((flat) => Array.from({ length: job.n }, (_, i) => flat.subarray(i * job.n, (i + 1) * job.n))));
    };
  }
  return worker;
}

// headsByLayer: per layer, the list of head maps ({values}). Resolves to rows per layer.
export function rolloutLayers(headsByLayer) {
  const means = headsByLayer.map((maps) => headMean(maps));
  const n = means[0].length;
  const w = getWorker();
  if (!w) return Promise.resolve(rolloutAll(means));
  const flats = means.map((rows) => {
    const flat = new Float64Array(n * n);
    rows.forEach((row, i) => flat.set(row, i * n));
    return flat;
  });
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, n });
    w.postMessage({ id, n, means: flats }, flats.map((f) => f.buffer));
  });
}
