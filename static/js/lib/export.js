// Export of what a view shows: SVG (token labels stay text; map cells are one embedded image, one pixel per
// cell, painted by the heatmap's own canvas renderer; photo overlays are the drawn canvas), PNG (that SVG
// rasterised at 2x), CSV (one row per query, key tokens as the header), JSON (the API's shape) and NumPy .npz (a
// zip of .npy arrays: one per map, plus the token lists). Each figure carries a caption line: model, input, kind,
// layer, head or aggregate, date. Nothing leaves the page: files are made here and saved through a blob link.
// A view hands exportAs() a "figure": {name, svg(), csv(), json(), npz()}; mapFigure() builds one for a single
// map, and wireExport() connects a group of [data-export] buttons to a function giving the current figure.

import { BLUES_LUT, DIVERGING_LUT } from "./colours.js";
import { cellImage, colourBar } from "./heatmap.js";

export const FORMATS = ["png", "svg", "csv", "json", "npz"];

const escapeXml = (s) => String(s).replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]);

// The caption line every exported figure carries.
export function captionOf({ model, input, kind, layer, head, date = new Date() }) {
  const text = input.length > 80 ? `${input.slice(0, 77)}...` : input;
  return `${model} | "${text}" | ${kind}, layer ${layer}, ${head} | ${date.toISOString().slice(0, 10)}`;
}

// SVG of one map: title, caption, every row and column label as <text>, the cells, a colour bar.
export function mapSvg({ z, x, y, title, caption, scale = "blues", zmin = 0, zmax = 1 }) {
  const lut = scale === "diverging" ? DIVERGING_LUT : BLUES_LUT;
  const rows = y.length;
  const cols = x.length;
  const cell = Math.max(4, Math.min(28, Math.floor(760 / Math.max(rows, cols, 1))));
  const m = { l: 120, t: 56, r: 90, b: 110 };
  const w = m.l + cols * cell + m.r;
  const h = m.t + rows * cell + m.b;
  const font = Math.min(12, Math.max(6, cell - 2));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">`,
    `<rect width="${w}" height="${h}" fill="#fff"/>`,
    `<text x="${m.l}" y="20" font-size="14">${escapeXml(title)}</text>`,
    `<text x="${m.l}" y="38" font-size="10" fill="#444">${escapeXml(caption)}</text>`,
    `<image x="${m.l}" y="${m.t}" width="${cols * cell}" height="${rows * cell}" preserveAspectRatio="none" `
      + `style="image-rendering:pixelated" href="${cellImage({ x, y, z }, lut, zmin, zmax).toDataURL("image/png")}"/>`,
  ];
  y.forEach((label, i) => parts.push(
    `<text class="row" x="${m.l - 4}" y="${m.t + (i + 0.5) * cell}" font-size="${font}" text-anchor="end" dominant-baseline="middle">${escapeXml(label)}</text>`));
  x.forEach((label, j) => {
    const cx = m.l + (j + 0.5) * cell;
    const cy = m.t + rows * cell + 6;
    parts.push(`<text class="col" x="${cx}" y="${cy}" font-size="${font}" text-anchor="end" transform="rotate(-60 ${cx} ${cy})">${escapeXml(label)}</text>`);
  });
  const barX = m.l + cols * cell + 16;
  const barH = rows * cell;
  parts.push(`<image x="${barX}" y="${m.t}" width="12" height="${barH}" preserveAspectRatio="none" `
    + `href="${colourBar(lut).toDataURL("image/png")}"/>`);
  parts.push(`<text x="${barX + 16}" y="${m.t + 8}" font-size="10">${Number(zmax.toPrecision(3))}</text>`);
  parts.push(`<text x="${barX + 16}" y="${m.t + barH}" font-size="10">${Number(zmin.toPrecision(3))}</text>`);
  parts.push("</svg>");
  return parts.join("\n");
}

// A figure around ready-made SVG markup (`body`, width x height, e.g. a serialised head view or a photo): the
// title and caption lines on top, like mapSvg's.
export function framedSvg({ body, width, height, title, caption }) {
  const top = 48;
  const w = Math.max(width, 360);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${height + top + 8}" viewBox="0 0 ${w} ${height + top + 8}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="8" y="18" font-size="14">${escapeXml(title)}</text>`,
    `<text x="8" y="36" font-size="10" fill="#444">${escapeXml(caption)}</text>`,
    `<g transform="translate(0 ${top})">${body}</g>`,
    "</svg>",
  ].join("\n");
}

// A live SVG element (e.g. the head view) as standalone markup: its own size, text kept as text.
export function serialiseSvg(node, width, height) {
  const copy = node.cloneNode(true);
  copy.setAttribute("width", String(width));
  copy.setAttribute("height", String(height));
  copy.setAttribute("font-size", "12");
  return new XMLSerializer().serializeToString(copy);
}

// A raster image (a canvas, e.g. a photo overlay) inside a figure; `notes` are text lines drawn under it.
export function canvasSvg({ canvas, title, caption, notes = [] }) {
  const w = canvas.width;
  const h = canvas.height;
  const lines = notes.map((t, i) => `<text x="8" y="${h + 18 + i * 16}" font-size="12">${escapeXml(t)}</text>`);
  const body = `<image x="0" y="0" width="${w}" height="${h}" href="${canvas.toDataURL("image/png")}"/>${lines.join("")}`;
  return framedSvg({ body, width: w, height: h + 8 + notes.length * 16, title, caption });
}

// The model view: every layer (row) and head (column) as a small map, each scaled to its own maximum like the
// page's thumbnails; layer and head labels are text. cells: [{layer, head, z}] (missing ones left blank).
export function gridSvg({ cells, layers, heads, title, caption }) {
  const side = Math.max(24, Math.min(96, Math.floor(900 / Math.max(heads, 1))));
  const gap = 4;
  const left = 40;
  const top = 20;
  const parts = [];
  for (let h = 0; h < heads; h++) {
    parts.push(`<text x="${left + h * (side + gap) + side / 2}" y="14" font-size="11" text-anchor="middle">H${h}</text>`);
  }
  for (let l = 0; l < layers; l++) {
    parts.push(`<text x="${left - 6}" y="${top + l * (side + gap) + side / 2}" font-size="11" text-anchor="end" dominant-baseline="middle">L${l}</text>`);
  }
  for (const { layer, head, z } of cells) {
    const max = Math.max(...z.map((row) => Math.max(...Array.from(row)))) || 1;
    const href = cellImage({ x: z[0] ? Array.from(z[0]) : [], y: z, z }, BLUES_LUT, 0, max).toDataURL("image/png");
    parts.push(`<image x="${left + head * (side + gap)}" y="${top + layer * (side + gap)}" width="${side}" height="${side}" `
      + `preserveAspectRatio="none" style="image-rendering:pixelated" href="${href}"/>`);
  }
  const width = left + heads * (side + gap);
  const height = top + layers * (side + gap);
  return framedSvg({ body: parts.join("\n"), width, height, title, caption });
}

// The SVG rasterised at `scale` into a PNG blob.
export function svgToPng(svg, scale = 2) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(img.width * scale);
      canvas.height = Math.round(img.height * scale);
      const ctx = canvas.getContext("2d");
      ctx.scale(scale, scale);
      ctx.drawImage(img, 0, 0);
      URL.revokeObjectURL(url);
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("PNG encoding failed"))), "image/png");
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error("The figure could not be rasterised."));
    };
    img.src = url;
  });
}

const csvCell = (v) => {
  const s = String(v);
  const guarded = /^[=+\-@\t\r]/.test(s) && Number.isNaN(Number(s)) ? `'${s}` : s; // never a spreadsheet formula
  return /[",\n\r]/.test(guarded) ? `"${guarded.replace(/"/g, '""')}"` : guarded;
};

// One row per query token: its label, then its weight on every key token (the header).
export function mapCsv({ z, x, y }) {
  const lines = [["query", ...x].map(csvCell).join(",")];
  y.forEach((label, i) => lines.push([csvCell(label), ...Array.from(z[i], (v) => String(Number(v)))].join(",")));
  return `${lines.join("\n")}\n`;
}

// Several maps over the same keys in one table: leading columns name the map (e.g. layer, head), then the query
// and its weights. maps: [{keys: [values of the leading columns], z, y}].
export function mapsCsv(lead, maps, x) {
  const lines = [[...lead, "query", ...x].map(csvCell).join(",")];
  for (const { keys, z, y } of maps) {
    y.forEach((label, i) => lines.push(
      [...keys.map(csvCell), csvCell(label), ...Array.from(z[i], (v) => String(Number(v)))].join(",")));
  }
  return `${lines.join("\n")}\n`;
}

// ---- .npz: a zip (stored, no compression) of .npy files --------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// One .npy file (format 1.0): a little-endian float32 matrix, or a unicode string vector (<U).
function npy(kind, data, shape) {
  let descr;
  let body;
  if (kind === "f4") {
    descr = "<f4";
    body = new Uint8Array(new Float32Array(data).buffer);
  } else {
    const width = Math.max(1, ...data.map((s) => [...s].length));
    descr = `<U${width}`;
    const codes = new Uint32Array(data.length * width);
    data.forEach((s, i) => [...s].forEach((ch, k) => { codes[i * width + k] = ch.codePointAt(0); }));
    body = new Uint8Array(codes.buffer);
  }
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const head = new Uint8Array(10 + header.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(head.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) head[10 + i] = header.charCodeAt(i);
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

function zip(files) {
  const enc = new TextEncoder();
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, data] of files) {
    const n = enc.encode(name);
    const crc = crc32(data);
    const local = new Uint8Array(30 + n.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, n.length, true);
    local.set(n, 30);
    const central = new Uint8Array(46 + n.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint32(42, offset, true);
    central.set(n, 46);
    locals.push(local, data);
    centrals.push(central);
    offset += local.length + data.length;
  }
  const size = centrals.reduce((s, c) => s + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, size, true);
  ev.setUint32(16, offset, true);
  return new Blob([...locals, ...centrals, end], { type: "application/zip" });
}

// Arrays [name, z (rows x cols)] as float32 .npy files, plus string vectors [name, list], in one .npz.
export function arraysNpz(arrays, lists = []) {
  const files = arrays.map(([name, z]) => {
    const rows = z.length;
    const cols = rows ? z[0].length : 0;
    const flat = new Float32Array(rows * cols);
    z.forEach((row, i) => flat.set(Array.from(row), i * cols));
    return [`${name}.npy`, npy("f4", flat, [rows, cols])];
  });
  for (const [name, list] of lists) files.push([`${name}.npy`, npy("U", list.map(String), [list.length])]);
  return zip(files);
}

// values (rows x cols float32), row_tokens and col_tokens, as numpy.load reads them.
export function mapNpz({ z, x, y }) {
  return arraysNpz([["values", z]], [["row_tokens", y], ["col_tokens", x]]);
}

// A figure of one map: SVG and PNG drawn by mapSvg, CSV, .npz, and `json` (an object) as given.
export function mapFigure({ name, z, x, y, title, caption, scale = "blues", zmin = 0, zmax = 1, json }) {
  const view = { z, x, y };
  return {
    name,
    svg: () => mapSvg({ ...view, title, caption, scale, zmin, zmax }),
    csv: () => mapCsv(view),
    npz: () => mapNpz(view),
    json: () => json,
  };
}

// Saves the figure in `format` (png, svg, csv, json or npz); figure: {name, svg(), csv(), json(), npz()}.
export async function exportAs(format, figure) {
  if (format === "svg") download(`${figure.name}.svg`, figure.svg(), "image/svg+xml");
  else if (format === "png") download(`${figure.name}.png`, await svgToPng(figure.svg()));
  else if (format === "csv") download(`${figure.name}.csv`, figure.csv(), "text/csv");
  else if (format === "npz") download(`${figure.name}.npz`, figure.npz());
  else if (format === "json") download(`${figure.name}.json`, JSON.stringify(figure.json()), "application/json");
  else throw new Error(`Unknown export format ${format}.`);
}

// Connects every [data-export] button inside `container` to current() (the figure shown now, or null when
// nothing is drawn); a failure is handed to onError(message).
export function wireExport(container, current, onError) {
  for (const button of container.querySelectorAll("[data-export]")) {
    button.addEventListener("click", async () => {
      const figure = current();
      if (!figure) {
        onError("Nothing to download yet: run the model first.");
        return;
      }
      try {
        await exportAs(button.dataset.export, figure);
      } catch (err) {
        onError(`Export failed: ${err && err.message ? err.message : String(err)}`);
      }
    });
  }
}

// A download group (label, one button per format) for views built in script, like the compare cards.
export function exportButtons(label, formats = FORMATS) {
  const group = document.createElement("div");
  group.className = "export";
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", label);
  const span = document.createElement("span");
  span.className = "export-label";
  span.textContent = label;
  group.append(span);
  for (const f of formats) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.dataset.export = f;
    b.textContent = f.toUpperCase();
    group.append(b);
  }
  return group;
}

// Saves a blob (or text) as a file through a temporary link.
export function download(name, content, type = "application/octet-stream") {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
