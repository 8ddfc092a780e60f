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
