// Computes attention rollout for every layer off the main thread (lib/rollout.js posts the work here).
// In: {id, n, means: [Float64Array(n * n) per layer]}; out: {id, layers: [Float64Array(n * n) per layer]}.

import { rolloutAll } from "./math.js";

self.onmessage = (event) => {
  const { id, n, means } = event.data;
  try {
    const asRows = (flat) => Array.from({ length: n }, (_, i) => flat.subarray(i * n, (i + 1) * n));
    const layers = rolloutAll(means.map(asRows)).map((rows) => {
      const flat = new Float64Array(n * n);
      rows.forEach((row, i) => flat.set(row, i * n));
      return flat;
    });
    self.postMessage({ id, layers }, layers.map((f) => f.buffer));
  } catch (err) {
    self.postMessage({ id, error: String(err) });
  }
};
