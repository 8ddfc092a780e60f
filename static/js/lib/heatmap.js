// Heatmaps of attention maps. Small maps are Plotly heatmaps (hover, zoom) from the offline bundle
// served at /vendor/plotly.min.js; large maps are painted on a plain canvas (one pixel per cell,
// scaled up), which stays fast at 512 x 512. Either way axis labels are thinned to fit, never
// overlapping, and the Plotly toolbar has no cloud ("Share chart") button and sits out of the Tab order.

import { BLUES_LUT, DIVERGING_LUT, plotlyDiverging, plotlyScale, plotlyText } from "./colours.js";
import { maxAbs } from "./math.js";

export const CANVAS_ABOVE = 80; // maps with more rows or columns than this are drawn on canvas
const LABEL_PX = 15; // room one axis label needs along its axis

export const PLOTLY_CONFIG = Object.freeze({
  displaylogo: false,
  responsive: true,
  showSendToCloud: false,
  showEditInChartStudio: false,
  showLink: false,
  modeBarButtonsToRemove: ["sendDataToCloud", "select2d", "lasso2d"],
});

// Every `step`-th index so that labels of `count` items fit in `pixels`.
export function labelStep(count, pixels, per = LABEL_PX) {
  const fit = Math.max(1, Math.floor(pixels / per));
  return Math.max(1, Math.ceil(count / fit));
}

// Chart toolbars come after the page's own controls: mouse only, out of the Tab order.
export function untabToolbar(target) {
  for (const b of target.querySelectorAll(".modebar-btn, .modebar a, .modebar button")) b.tabIndex = -1;
}

export function plotly() {
  if (!window.Plotly) throw new Error("Plotly did not load (/vendor/plotly.min.js).");
  return window.Plotly;
}

// Plotly.react with the project's config; returns its promise.
export async function plot(target, traces, layout, config = {}) {
  target.dataset.renderer = "plotly";
  const done = await plotly().react(target, traces, layout, { ...PLOTLY_CONFIG, ...config });
  untabToolbar(target);
  if (!target.dataset.toolbarWatched && typeof target.on === "function") {
    // Plotly rebuilds its toolbar on some relayouts (resize, zoom): keep it out of the Tab order.
    target.on("plotly_afterplot", () => untabToolbar(target));
    target.dataset.toolbarWatched = "true";
  }
  return done;
}

export function purge(target) {
  if (window.Plotly && target.classList.contains("js-plotly-plot")) window.Plotly.purge(target);
  target.replaceChildren();
  delete target.dataset.renderer;
  delete target.dataset.toolbarWatched;
}

const plain = (values) => values.map((row) => Array.from(row));

function drawPlotly(target, o) {
  if (target.dataset.renderer === "canvas") target.replaceChildren();
  const rows = o.y.length;
  const cols = o.x.length;
  const width = target.clientWidth || 600;
  const xl = o.x.map(plotlyText);
  const yl = o.y.map(plotlyText);
  const height = o.height ?? Math.min(820, Math.max(360, 26 * rows + 180));
  const margin = { l: 110, r: 20, t: o.title ? 50 : 12, b: 110 };
  const xStep = labelStep(cols, width - margin.l - margin.r - 80);
  const yStep = labelStep(rows, height - margin.t - margin.b);
  const ticks = (labels, step) => {
    const idx = labels.map((_, i) => i).filter((i) => i % step === 0);
    return { tickmode: "array", tickvals: idx, ticktext: idx.map((i) => labels[i]) };
  };
  const small = Math.max(rows, cols) > 30;
  const axis = (title) => ({ title: { text: title ?? "" }, showgrid: false, zeroline: false, tickfont: { size: small ? 10 : 13 } });
  const diverging = o.scale === "diverging";
  const trace = {
    type: "heatmap",
    z: plain(o.z),
    x: xl.map((_, i) => i),
    y: yl.map((_, i) => i),
    text: yl.map((q) => xl.map((k) => `${q} → ${k}`)),
    hovertemplate: "%{text}: %{z:.4f}<extra></extra>",
    colorscale: diverging ? plotlyDiverging : plotlyScale,
    colorbar: { title: { text: o.colorbarTitle ?? "weight" }, tickformat: ".2f" },
  };
  if (o.zmin !== undefined) trace.zmin = o.zmin;
  if (o.zmax !== undefined) trace.zmax = o.zmax;
  if (diverging) trace.zmid = 0;
  const layout = {
    title: o.title ? { text: plotlyText(o.title) } : undefined,
    xaxis: { ...axis(o.xTitle), ...ticks(xl, xStep), side: "bottom", tickangle: -45 },
    yaxis: { ...axis(o.yTitle), ...ticks(yl, yStep), autorange: "reversed" },
    margin,
    height,
  };
  return plot(target, [trace, ...(o.extraTraces || [])], layout);
}

// Packed RGBA (little-endian Uint32) of a colour table, once per table.
const PACKED = new WeakMap();
function packed(lut) {
  if (!PACKED.has(lut)) {
    const out = new Uint32Array(256);
    for (let k = 0; k < 256; k++) out[k] = (255 << 24) | (lut[3 * k + 2] << 16) | (lut[3 * k + 1] << 8) | lut[3 * k];
    PACKED.set(lut, out);
  }
  return PACKED.get(lut);
}

// The value range a map is painted over: zmin/zmax when given, else its own (symmetric when diverging).
function valueRange(o) {
  let lo = o.zmin;
  let hi = o.zmax;
  if (lo !== undefined && hi !== undefined) return [lo, hi];
  let mn = Infinity;
  let mx = -Infinity;
  for (const row of o.z) {
    for (let j = 0; j < row.length; j++) {
      const v = row[j];
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
  }
  if (o.scale === "diverging") {
    const m = Math.max(Math.abs(mn), Math.abs(mx)) || 1;
    return [lo ?? -m, hi ?? m];
  }
  lo = lo ?? Math.min(0, mn);
  return [lo, hi ?? (mx > lo ? mx : lo + 1)];
}

// One pixel per cell, painted through the colour table into an offscreen canvas (one, reused: it is drawn
// onto the visible canvas at once, so the next draw may overwrite it).
let CELLS = null;
export function cellImage(o, lut, lo, hi) {
  const rows = o.y.length;
  const cols = o.x.length;
  if (!CELLS) CELLS = document.createElement("canvas");
  const cells = CELLS;
  if (cells.width !== cols) cells.width = cols;
  if (cells.height !== rows) cells.height = rows;
  const cctx = cells.getContext("2d");
  const img = cctx.createImageData(cols, rows);
  const px = new Uint32Array(img.data.buffer);
  const colours = packed(lut);
  const scale = 255 / (hi - lo || 1);
  for (let i = 0; i < rows; i++) {
    const row = o.z[i];
    const base = i * cols;
    for (let j = 0; j < cols; j++) {
      let k = ((row[j] - lo) * scale + 0.5) | 0;
      if (k < 0) k = 0;
      else if (k > 255) k = 255;
      px[base + j] = colours[k];
    }
  }
  cctx.putImageData(img, 0, 0);
  return cells;
}

// The colour bar as a 1 x 256 image, once per table (drawn scaled, top = high).
const BARS = new WeakMap();
export function colourBar(lut) {
  if (!BARS.has(lut)) {
    const bar = document.createElement("canvas");
    bar.width = 1;
    bar.height = 256;
    const bctx = bar.getContext("2d");
    const img = bctx.createImageData(1, 256);
    const px = new Uint32Array(img.data.buffer);
    const colours = packed(lut);
    for (let y = 0; y < 256; y++) px[y] = colours[255 - y];
    bctx.putImageData(img, 0, 0);
    BARS.set(lut, bar);
  }
  return BARS.get(lut);
}

// Canvas renderer: title, y labels, the map, x labels (rotated), a colour bar; hover reads a cell.
// The canvas and its readout are reused from one draw to the next (a view switch repaints, no new nodes).
function drawCanvas(target, o) {
  if (target.classList.contains("js-plotly-plot") && window.Plotly) window.Plotly.purge(target);
  delete target.dataset.toolbarWatched;
  const rows = o.y.length;
  const cols = o.x.length;
  const lut = o.scale === "diverging" ? DIVERGING_LUT : BLUES_LUT;
  const [lo, hi] = valueRange(o);
  const cells = cellImage(o, lut, lo, hi);

  const width = Math.max(240, target.clientWidth || 600);
  const m = { l: 100, r: 70, t: o.title ? 34 : 10, b: 90 };
  const side = Math.min(width - m.l - m.r, (o.height ?? 820) - m.t - m.b);
  const plotW = side;
  const plotH = Math.max(120, Math.round((side * rows) / Math.max(rows, cols)));
  const height = m.t + plotH + m.b;
  const dpr = window.devicePixelRatio || 1;
  let canvas = target.dataset.renderer === "canvas" ? target.querySelector("canvas.heatmap-canvas") : null;
  let readout = canvas ? target.querySelector(".heatmap-readout") : null;
  if (!canvas || !readout) {
    canvas = document.createElement("canvas");
    canvas.className = "heatmap-canvas";
    canvas.setAttribute("role", "img");
    readout = document.createElement("p");
    readout.className = "heatmap-readout";
    readout.setAttribute("aria-live", "off");
    const shown = readout;
    canvas.addEventListener("mousemove", (e) => {
      const d = canvas.heatmap; // the drawn map's geometry and values, set below on every draw
      const r = canvas.getBoundingClientRect();
      const x = ((e.clientX - r.left) * d.width) / r.width - d.m.l;
      const y = ((e.clientY - r.top) * d.height) / r.height - d.m.t;
      const i = Math.floor((y / d.plotH) * d.o.y.length);
      const j = Math.floor((x / d.plotW) * d.o.x.length);
      shown.textContent = i >= 0 && i < d.o.y.length && j >= 0 && j < d.o.x.length
        ? `${d.o.y[i]} → ${d.o.x[j]}: ${Number(d.o.z[i][j]).toFixed(4)}`
        : "";
    });
    target.replaceChildren(canvas, readout);
  }
  canvas.heatmap = { o, m, width, height, plotW, plotH };
  readout.textContent = "";
  const w = Math.round(width * dpr);
  const h = Math.round(height * dpr);
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  canvas.setAttribute("aria-label", `${o.title || "Attention map"}: ${rows} rows by ${cols} columns`);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(cells, m.l, m.t, plotW, plotH);
  ctx.fillStyle = "#1b2430";
  ctx.font = "13px system-ui, sans-serif";
  ctx.textAlign = "left";
  ctx.textBaseline = "alphabetic";
  if (o.title) ctx.fillText(o.title, m.l, 20);
  ctx.font = "10px system-ui, sans-serif";
  const yStep = labelStep(rows, plotH, 12);
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let i = 0; i < rows; i += yStep) ctx.fillText(String(o.y[i]).slice(0, 14), m.l - 4, m.t + ((i + 0.5) * plotH) / rows);
  const xStep = labelStep(cols, plotW, 12);
  for (let j = 0; j < cols; j += xStep) {
    ctx.save();
    ctx.translate(m.l + ((j + 0.5) * plotW) / cols, m.t + plotH + 4);
    ctx.rotate(-Math.PI / 4);
    ctx.fillText(String(o.x[j]).slice(0, 14), 0, 0);
    ctx.restore();
  }
  // Colour bar.
  const barX = m.l + plotW + 14;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(colourBar(lut), barX, m.t, 12, plotH);
  ctx.fillStyle = "#1b2430";
  ctx.textAlign = "left";
  ctx.fillText(hi.toFixed(2), barX + 15, m.t + 5);
  ctx.fillText(lo.toFixed(2), barX + 15, m.t + plotH - 5);
  target.dataset.renderer = "canvas";
  return Promise.resolve();
}

// Draws one map into `target`. z: rows of values; x: column labels; y: row labels.
// Options: title, xTitle, yTitle, colorbarTitle, zmin, zmax, height, scale ("blues" | "diverging"),
// extraTraces (Plotly only, e.g. markers over cells). Returns a promise settled once drawn.
export function drawHeatmap(target, options) {
  const big = Math.max(options.y.length, options.x.length) > CANVAS_ABOVE;
  target.dataset.rows = String(options.y.length);
  target.dataset.cols = String(options.x.length);
  return big ? drawCanvas(target, options) : drawPlotly(target, options);
}

// What switching heads off did to one map on the same tokens: after minus before (rows of values), drawn on a
// diverging scale centred on 0; shows `target` and sets its data-max-difference. Returns the largest |change|.
export function drawDifference(target, before, after, { x, y, title }) {
  const diff = after.map((row, r) => Array.from(row, (v, c) => v - before[r][c]));
  const largest = maxAbs(diff);
  const top = Math.max(largest, 1e-9);
  target.hidden = false;
  target.dataset.maxDifference = String(largest);
  drawHeatmap(target, { z: diff, x, y, zmin: -top, zmax: top, scale: "diverging", colorbarTitle: "difference", height: 360,
    title });
  return largest;
}
