// Colour scales shared by every view: a white-to-blue scale for attention heatmaps and an
// inferno-like heat scale for photo overlays, as functions, Plotly colorscales and CSS gradients.

// White to deep blue: zero weight reads as empty paper, full weight as ink.
const BLUES = [
  [0.0, [247, 251, 255]],
  [0.25, [198, 219, 239]],
  [0.5, [107, 174, 214]],
  [0.75, [33, 113, 181]],
  [1.0, [8, 48, 107]],
];

// Inferno-like: black-purple (no weight) through red and orange to pale yellow (the maximum).
const HEAT = [
  [0.0, [0, 0, 4]],
  [0.2, [66, 10, 104]],
  [0.4, [147, 38, 103]],
  [0.6, [221, 81, 58]],
  [0.8, [252, 165, 10]],
  [1.0, [252, 255, 164]],
];

// Blue (negative) through white to red (positive), for difference maps.
const DIVERGING = [
  [0.0, [5, 48, 97]],
  [0.25, [67, 147, 195]],
  [0.5, [247, 247, 247]],
  [0.75, [214, 96, 77]],
  [1.0, [103, 0, 31]],
];

function interpolate(stops, t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
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

// A 256-entry lookup table [r, g, b, r, g, b, ...] of a scale, for fast canvas painting.
function table(stops) {
  const out = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) out.set(interpolate(stops, i / 255), 3 * i);
  return out;
}

const toPlotly = (stops) => stops.map(([t, c]) => [t, `rgb(${c.join(",")})`]);
const toGradient = (stops) =>
  `linear-gradient(to right, ${stops.map(([t, c]) => `rgb(${c.join(",")}) ${t * 100}%`).join(", ")})`;

export const rgb = (t) => interpolate(BLUES, t);
export const heat = (t) => interpolate(HEAT, t);
export const diverging = (t) => interpolate(DIVERGING, t);
export const BLUES_LUT = table(BLUES);
export const HEAT_LUT = table(HEAT);
export const DIVERGING_LUT = table(DIVERGING);
export const plotlyScale = toPlotly(BLUES);
export const plotlyDiverging = toPlotly(DIVERGING);
export const heatGradient = toGradient(HEAT);
export const bluesGradient = toGradient(BLUES);

// One colour per head, for head views and legends.
const HEAD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"];
export const headColour = (head) => HEAD_COLOURS[head % HEAD_COLOURS.length];

// Plotly reads a few HTML tags in labels; entities keep a token such as "<b>" literal text.
export function plotlyText(token) {
  return String(token).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
