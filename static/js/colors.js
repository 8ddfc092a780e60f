// Shared colour scale and label helpers for every attention view.
"use strict";

const attnColors = (() => {
  // White to deep blue: zero weight reads as empty paper, full weight as ink.
  const stops = [
    [0.0, [247, 251, 255]],
    [0.25, [198, 219, 239]],
    [0.5, [107, 174, 214]],
    [0.75, [33, 113, 181]],
    [1.0, [8, 48, 107]],
  ];

  function rgb(t) {
    const x = Math.min(1, Math.max(0, t));
    for (let i = 1; i < stops.length; i++) {
      const [t1, c1] = stops[i];
      if (x <= t1) {
        const [t0, c0] = stops[i - 1];
        const f = (x - t0) / (t1 - t0);
        return c0.map((v, k) => Math.round(v + f * (c1[k] - v)));
      }
    }
    return stops[stops.length - 1][1];
  }

  // Plotly colorscale with the same stops.
  const plotlyScale = stops.map(([t, c]) => [t, `rgb(${c.join(",")})`]);

  // Plotly reads a few HTML tags in labels; entities keep a token such as "<b>" literal text.
  function plotlyText(token) {
    return String(token).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  return { rgb, plotlyScale, plotlyText };
})();

// Image overlays: a heat scale that stands out on photos, and smooth upsampling of patch grids.
const attnImage = (() => {
  // Inferno-like: black-purple (no weight) through red and orange to pale yellow (the map's maximum).
  const heatStops = [
    [0.0, [0, 0, 4]],
    [0.2, [66, 10, 104]],
    [0.4, [147, 38, 103]],
    [0.6, [221, 81, 58]],
    [0.8, [252, 165, 10]],
    [1.0, [252, 255, 164]],
  ];

  function heat(t) {
    const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
    for (let i = 1; i < heatStops.length; i++) {
      const [t1, c1] = heatStops[i];
      if (x <= t1) {
        const [t0, c0] = heatStops[i - 1];
        const f = (x - t0) / (t1 - t0);
        return c0.map((v, k) => Math.round(v + f * (c1[k] - v)));
      }
    }
    return heatStops[heatStops.length - 1][1];
  }

  // CSS gradient with the same stops, for colour bars.
  const heatGradient = `linear-gradient(to right, ${heatStops
    .map(([t, c]) => `rgb(${c.join(",")}) ${t * 100}%`)
    .join(", ")})`;

  // Bilinear upsampling of an h x w grid (array of rows) to outH x outW, patch centres aligned
  // (align_corners = false, like torch.nn.functional.interpolate). Returns a Float32Array, row-major.
  function bilinear(values, outH, outW) {
    const h = values.length;
    const w = values[0].length;
    const out = new Float32Array(outH * outW);
    const xs = new Int32Array(outW);
    const xs1 = new Int32Array(outW);
    const fx = new Float32Array(outW);
    for (let x = 0; x < outW; x++) {
      const u = Math.min(w - 1, Math.max(0, ((x + 0.5) * w) / outW - 0.5));
      xs[x] = Math.floor(u);
      xs1[x] = Math.min(w - 1, xs[x] + 1);
      fx[x] = u - xs[x];
    }
    for (let y = 0; y < outH; y++) {
      const v = Math.min(h - 1, Math.max(0, ((y + 0.5) * h) / outH - 0.5));
      const y0 = Math.floor(v);
      const y1 = Math.min(h - 1, y0 + 1);
      const fy = v - y0;
      const r0 = values[y0];
      const r1 = values[y1];
      for (let x = 0; x < outW; x++) {
        const top = r0[xs[x]] + fx[x] * (r0[xs1[x]] - r0[xs[x]]);
        const bottom = r1[xs[x]] + fx[x] * (r1[xs1[x]] - r1[xs[x]]);
        out[y * outW + x] = top + fy * (bottom - top);
      }
    }
    return out;
  }

  return { heat, heatGradient, bilinear };
})();
