// Attention over a photo: a patch grid smoothly upsampled (bilinear, patch centres aligned, like
// torch's interpolate with align_corners=False) and painted in the heat scale over part of a canvas.

import { HEAT_LUT } from "./colours.js";

// Upsamples an h x w grid (array of rows) to outH x outW. Returns a Float32Array, row-major.
export function bilinear(values, outH, outW) {
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

// Paints `values` (h x w) over the rectangle (x, y, width, height) of ctx, scaled so `max` is the
// top of the heat scale, blended by opacity (0-1).
export function paintMap(ctx, values, max, x, y, width, height, opacity) {
  const w = Math.max(1, Math.round(width));
  const h = Math.max(1, Math.round(height));
  const up = bilinear(values, h, w);
  const layer = document.createElement("canvas");
  layer.width = w;
  layer.height = h;
  const lctx = layer.getContext("2d");
  const img = lctx.createImageData(w, h);
  for (let i = 0; i < up.length; i++) {
    const k = max > 0 ? Math.max(0, Math.min(255, Math.round((up[i] / max) * 255))) : 0;
    img.data[4 * i] = HEAT_LUT[3 * k];
    img.data[4 * i + 1] = HEAT_LUT[3 * k + 1];
    img.data[4 * i + 2] = HEAT_LUT[3 * k + 2];
    img.data[4 * i + 3] = 255;
  }
  lctx.putImageData(img, 0, 0);
  ctx.save();
  ctx.globalAlpha = opacity;
  ctx.drawImage(layer, Math.round(x), Math.round(y));
  ctx.restore();
}

// Decodes a photo Blob into an <img> (which applies EXIF orientation, like the server); resolves to
// null when this browser cannot show the format (e.g. TIFF). Returns [img | null, objectURL].
export function decodePhoto(blob) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(blob);
    const img = new Image();
    img.onload = () => resolve([img, url]);
    img.onerror = () => resolve([null, url]);
    img.src = url;
  });
}

// The crop box [left, top, right, bottom] (original pixels) as a rectangle in canvas pixels at scale s.
export function cropRect(cropBox, s) {
  const [left, top, right, bottom] = cropBox;
  return { x: left * s, y: top * s, w: (right - left) * s, h: (bottom - top) * s };
}

// Draws an image answer's map over its photo on `canvas`, at most maxSide px on its longer side: the photo (a
// grey box when this browser cannot show it), what the centre crop cut off dimmed, `values` (h x w) painted over
// the crop box in the heat scale up to `max`, and the box outlined. Returns {s, box} (scale and crop rectangle).
export function drawPhotoMap(canvas, { photo, imageSize, cropBox, values, max, opacity, maxSide }) {
  const [H, W] = imageSize;
  const s = Math.min(maxSide / W, maxSide / H);
  const width = Math.round(W * s);
  const height = Math.round(H * s);
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (photo) ctx.drawImage(photo, 0, 0, width, height);
  else {
    ctx.fillStyle = "#8a94a3";
    ctx.fillRect(0, 0, width, height);
  }
  const box = cropRect(cropBox, s);
  ctx.fillStyle = "rgba(20, 24, 32, 0.55)";
  ctx.fillRect(0, 0, width, box.y);
  ctx.fillRect(0, box.y + box.h, width, height - box.y - box.h);
  ctx.fillRect(0, box.y, box.x, box.h);
  ctx.fillRect(box.x + box.w, box.y, width - box.x - box.w, box.h);
  paintMap(ctx, values, max, box.x, box.y, box.w, box.h, opacity);
  ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
  ctx.lineWidth = 1;
  ctx.strokeRect(box.x + 0.5, box.y + 0.5, box.w - 1, box.h - 1);
  return { s, box };
}
