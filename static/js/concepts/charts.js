// The few chart kinds the lecture needs beyond heatmaps: bars over tokens, lines, and a patch map painted
// over a photo. Labels are tokens set as text (plotlyText escapes what Plotly would read as markup).

import { plotlyText } from "../lib/colours.js";
import { el, option } from "../lib/dom.js";
import { plot } from "../lib/heatmap.js";
import { paintMap } from "../lib/overlay.js";

const FONT = { size: 12 };

// One bar per token; labels may repeat ("the" twice), so bars sit at indices with the tokens as tick text.
export function tokenBars(target, labels, values, { title, yTitle, colour = "#1f5fa8", range } = {}) {
  const idx = labels.map((_, i) => i);
  return plot(target, [{
    type: "bar", x: idx, y: values, marker: { color: colour }, textposition: "none",
    text: labels.map(plotlyText), hovertemplate: "%{text}: %{y:.4f}<extra></extra>",
  }], {
    title: { text: title, font: { size: 14 } }, height: 320, margin: { l: 60, r: 10, t: 40, b: 90 }, font: FONT,
    xaxis: { tickmode: "array", tickvals: idx, ticktext: labels.map(plotlyText), tickangle: -45 },
    yaxis: { title: { text: yTitle ?? "" }, range, zeroline: true },
  });
}

// Lines: series = [{name, x, y, dash?, markers?}], options: title, xTitle, yTitle, logX, category (x values
// are names, e.g. length buckets), yRange, height, shapes.
export function lines(target, series, o = {}) {
  return plot(target, series.map((s) => ({
    type: "scatter", mode: s.markers === false ? "lines" : "lines+markers", name: s.name, x: s.x, y: s.y,
    line: { dash: s.dash ?? "solid" },
  })), {
    title: o.title ? { text: o.title, font: { size: 14 } } : undefined, height: o.height ?? 340, font: FONT,
    margin: { l: 70, r: 10, t: o.title ? 40 : 10, b: 60 }, legend: { orientation: "h", y: -0.25 },
    xaxis: { title: { text: o.xTitle ?? "" }, type: o.logX ? "log" : o.category ? "category" : "linear" },
    yaxis: { title: { text: o.yTitle ?? "" }, range: o.yRange },
    shapes: o.shapes,
  });
}

// Replaces a <select>'s options with 0..count-1 (labels from label(i)), keeping `keep` selected when it exists.
export function fillSelect(select, count, label = String, keep = select.value) {
  select.replaceChildren(...Array.from({ length: count }, (_, i) => option(i, label(i))));
  const wanted = Number(keep);
  select.value = String(Number.isInteger(wanted) && wanted >= 0 && wanted < count ? wanted : 0);
}

// A row of toggle buttons, one per token, the selected one pressed; onPick(i) on click or Enter.
export function tokenButtons(box, tokens, selected, onPick, describe = (t, i) => `${i}: ${t}`) {
  box.replaceChildren(...tokens.map((t, i) => el("button", {
    type: "button", "aria-pressed": String(i === selected), title: describe(t, i), onclick: () => onPick(i),
  }, t)));
}

// Loads a data URL into an <img> (the CSP allows data: images).
export function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("The picture could not be decoded."));
    img.src = src;
  });
}

// Paints `img` on `canvas` at `size` px square, `grid` (h x w values) over it in the heat scale (scaled
// to its own maximum), and optionally the patch grid lines.
export function photoMap(canvas, img, values, { size = 448, opacity = 0.6, gridLines = false } = {}) {
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0, size, size);
  const max = Math.max(...values.flat());
  paintMap(ctx, values, max, 0, 0, size, size, opacity);
  if (gridLines) {
    const h = values.length;
    const w = values[0].length;
    ctx.strokeStyle = "rgba(255,255,255,0.45)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let r = 1; r < h; r++) {
      ctx.moveTo(0, (r * size) / h + 0.5);
      ctx.lineTo(size, (r * size) / h + 0.5);
    }
    for (let c = 1; c < w; c++) {
      ctx.moveTo((c * size) / w + 0.5, 0);
      ctx.lineTo((c * size) / w + 0.5, size);
    }
    ctx.stroke();
  }
  canvas.dataset.drawn = "1";
  canvas.dataset.max = String(max);
}

// A long vector (hundreds of numbers) as one bar per dimension: every value visible at any width.
export function vectorBars(target, series, { title, yTitle = "value", height = 280 } = {}) {
  return plot(target, series.map((s) => ({
    type: "bar", name: s.name, x: s.values.map((_, i) => i), y: s.values, marker: { color: s.colour },
    hovertemplate: `${s.name}[%{x}] = %{y:.4f}<extra></extra>`,
  })), {
    title: { text: title, font: { size: 14 } }, height, margin: { l: 60, r: 10, t: 40, b: 50 }, font: FONT,
    bargap: 0, barmode: "group", legend: { orientation: "h", y: -0.3 },
    xaxis: { title: { text: "dimension" } }, yaxis: { title: { text: yTitle } },
  });
}
