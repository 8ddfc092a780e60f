// Export of the map a view shows: SVG (token labels stay text; the cells are one embedded image, one pixel
// per cell, painted by the heatmap's own canvas renderer), PNG (that SVG rasterised at 2x), CSV (one row per query, key tokens as the header), JSON (the
// view's own numbers and tokens) and NumPy .npz (a zip of .npy arrays: the values and both token lists).
// Each figure carries a caption line: model, input, kind, layer, head or aggregate, date. Nothing leaves the
// page: files are made here and saved through a blob link.

import { BLUES_LUT, DIVERGING_LUT } from "./colours.js";
import { cellImage, colourBar } from "./heatmap.js";

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
  parts.push(`<text x="${barX + 16}" y="${m.t + 8}" font-size="10">${zmax.toFixed(2)}</text>`);
  parts.push(`<text x="${barX + 16}" y="${m.t + barH}" font-size="10">${zmin.toFixed(2)}</text>`);
  parts.push("</svg>");
  return parts.join("\n");
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

// values (rows x cols float32), row_tokens and col_tokens, as numpy.load reads them.
export function mapNpz({ z, x, y }) {
  const rows = y.length;
  const cols = x.length;
  const flat = new Float32Array(rows * cols);
  z.forEach((row, i) => flat.set(Array.from(row), i * cols));
  return zip([
    ["values.npy", npy("f4", flat, [rows, cols])],
    ["row_tokens.npy", npy("U", y.map(String), [rows])],
    ["col_tokens.npy", npy("U", x.map(String), [cols])],
  ]);
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
