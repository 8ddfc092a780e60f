// Image attention page: upload a photo (or pick a sample), fetch every map and draw the selected one over
// the photo, smoothly upsampled onto the crop box the model saw. Vision backbones give class-token maps per
// layer and head; captioning models give a caption whose words are buttons, each opening the spatial map
// of the decoder step that wrote it (Show-Attend-Tell style strip of per-word thumbnails). Text only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("image-form");
  const modelSelect = $("model");
  const fileInput = $("file");
  const dropzone = $("dropzone");
  const preview = $("preview");
  const samplesBox = $("samples");
  const statusLine = $("status");
  const errorBox = $("error");
  const result = $("result");
  const layerSelect = $("layer");
  const headSelect = $("head");
  const opacityInput = $("opacity");
  const hideArtifacts = $("hide-artifacts");
  const canvas = $("overlay");
  const thumbs = $("thumbs");
  const captionBox = $("caption-box");
  const captionWords = $("caption-words");
  const THUMBS_TEXT = $("thumbs-caption").textContent;

  const MAX_SIDE = 640; // largest side of the main canvas in CSS pixels
  const THUMB_SIDE = 96;
  let models = [];
  let response = null; // last successful API answer
  let photo = null; // HTMLImageElement of the upright original, or null when the browser cannot show it
  let source = null; // { blob, filename, sample } of the photo being shown
  let requestSeq = 0; // answers to older requests are dropped
  let previewUrl = null;
  let drawCount = 0; // bumped on every main draw, so tests can wait for a redraw
  let step = 0; // selected caption word (captioning models)

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function setBusy(busy, message) {
    form.setAttribute("aria-busy", String(busy));
    for (const b of samplesBox.querySelectorAll("button")) b.disabled = busy;
    statusLine.textContent = message || "";
  }

  const option = modelPicker.option;

  async function loadModels(wanted) {
    models = await modelPicker.fill(modelSelect, ["vision", "captioning"], wanted);
    describeModel();
  }

  function describeModel() {
    const m = models.find((x) => x.id === modelSelect.value);
    const captioner = Boolean(m && m.task === "captioning");
    // A captioner's notes (the objects it knows) sit under its caption instead.
    $("model-note").textContent = m ? (captioner ? `${m.description}.` : `${m.description}. ${m.notes}`) : "";
    $("known-objects").textContent = captioner ? m.notes : "";
  }

  async function loadSamples(wanted) {
    const r = await fetch("/api/samples");
    if (!r.ok) return;
    const samples = await r.json();
    samplesBox.replaceChildren(
      ...samples.map((s) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "secondary sample";
        b.dataset.sample = s.name;
        b.textContent = s.title;
        b.title = `${s.source}; ${s.license}`;
        b.addEventListener("click", () => runSample(s.name, currentView()));
        return b;
      })
    );
    return samples.some((s) => s.name === wanted);
  }

  // ---- The photo -----------------------------------------------------------------------------

  function decodePhoto(blob) {
    // <img> applies EXIF orientation like the server does, so naturalWidth/Height are upright.
    return new Promise((resolve) => {
      const img = new Image();
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = URL.createObjectURL(blob);
      img.onload = () => resolve(img);
      img.onerror = () => resolve(null); // e.g. TIFF: the server reads it, this browser cannot show it
      img.src = previewUrl;
    });
  }

  // ---- Maps ----------------------------------------------------------------------------------

  const isCaption = () => Boolean(response && response.output_tokens);

  // The layer selector's value: a number, or null for a captioner with one map per word (no layers).
  function selectedLayer() {
    return layerSelect.value === "" ? null : Number(layerSelect.value);
  }

  // The map the selectors point at: "mean", "rollout" or a head number (and the word `at` for captions).
  function findMap(layer, which, at = step) {
    return response.maps.find((m) => {
      if (m.layer !== layer) return false;
      if (m.kind === "spatial") {
        if (m.step !== at) return false;
        return which === "mean" ? m.head === null : m.head === Number(which);
      }
      if (which === "rollout") return m.kind === "rollout";
      if (which === "mean") return m.kind === "cls" && m.head === null;
      return m.kind === "cls" && m.head === Number(which);
    });
  }

  const currentMap = () => findMap(selectedLayer(), headSelect.value);

  function mapName(map) {
    if (map.kind === "spatial") {
      if (map.layer === null) return "the decoder's attention";
      if (map.head === null) return `cross-attention layer ${map.layer}, mean over heads`;
      return `cross-attention layer ${map.layer}, head ${map.head}`;
    }
    if (map.kind === "rollout") return `rollout through layer ${map.layer}`;
    if (map.head === null) return `layer ${map.layer}, mean over heads`;
    return `layer ${map.layer}, head ${map.head}`;
  }

  // Show-Attend-Tell's gate beta: how much of the attended image reached the decoder for this word.
  function gateText(step) {
    if (!response.gates) return "";
    const beta = response.gates[step];
    const note =
      beta < 0.5
        ? " The decoder barely used the image for this word (it follows from the words before), so this map " +
          "says little about the word."
        : "";
    return ` Image gate \u03b2 = ${beta.toFixed(2)}.${note}`;
  }

  function mapCaption(map) {
    const name = mapName(map);
    if (map.kind === "spatial") {
      const word = response.output_tokens[map.step];
      const total = map.values.flat().reduce((a, b) => a + b, 0);
      return (
        `"${word}" (word ${map.step + 1} of ${response.output_tokens.length}), ${name}: a softmax over the ` +
        `${map.shape[0]} x ${map.shape[1]} patches (sums to ${total.toFixed(3)}). Colours run from 0 to this ` +
        "map's largest patch weight." +
        gateText(map.step)
      );
    }
    return (
      `${name[0].toUpperCase()}${name.slice(1)}: the class token keeps ` +
      `${map.cls_self.toFixed(3)} on itself and spreads ${(1 - map.cls_self).toFixed(3)} over the ` +
      `${map.shape[0]} x ${map.shape[1]} patches. Colours run from 0 to this map's largest patch weight.`
    );
  }

  // Values to draw: artifact patches zeroed when hidden; returns [values, max over the shown patches].
  function displayValues(map) {
    const hidden = new Set(hideArtifacts.checked ? response.artifact_patches.map(([r, c]) => `${r},${c}`) : []);
    let max = 0;
    const values = map.values.map((row, r) =>
      row.map((v, c) => {
        if (hidden.has(`${r},${c}`)) return 0;
        max = Math.max(max, v);
        return v;
      })
    );
    return [values, max];
  }

  // Paint a map (h x w) smoothly over the rectangle (x, y, width, height) of ctx, blended by opacity.
  function paintMap(ctx, values, max, x, y, width, height, opacity) {
    const w = Math.max(1, Math.round(width));
    const h = Math.max(1, Math.round(height));
    const up = attnImage.bilinear(values, h, w);
    const layer = document.createElement("canvas");
    layer.width = w;
    layer.height = h;
    const lctx = layer.getContext("2d");
    const img = lctx.createImageData(w, h);
    for (let i = 0; i < up.length; i++) {
      const [r, g, b] = attnImage.heat(max > 0 ? up[i] / max : 0);
      img.data[4 * i] = r;
      img.data[4 * i + 1] = g;
      img.data[4 * i + 2] = b;
      img.data[4 * i + 3] = 255;
    }
    lctx.putImageData(img, 0, 0);
    ctx.save();
    ctx.globalAlpha = opacity;
    ctx.drawImage(layer, Math.round(x), Math.round(y));
    ctx.restore();
  }

  // Geometry: the upright image scaled by s, the crop box inside it.
  function cropRect(s) {
    const [left, top, right, bottom] = response.preprocessing.crop_box;
    return { x: left * s, y: top * s, w: (right - left) * s, h: (bottom - top) * s };
  }

  function drawPhoto(ctx, width, height) {
    if (photo) ctx.drawImage(photo, 0, 0, width, height);
    else {
      ctx.fillStyle = "#8a94a3";
      ctx.fillRect(0, 0, width, height);
    }
  }

  function drawMain() {
    const map = currentMap();
    if (!map) return;
    const [H, W] = response.image_size;
    const s = Math.min(MAX_SIDE / W, MAX_SIDE / H);
    const width = Math.round(W * s);
    const height = Math.round(H * s);
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    drawPhoto(ctx, width, height);
    const box = cropRect(s);
    // Dim what the model never saw (cut off by the centre crop).
    ctx.fillStyle = "rgba(20, 24, 32, 0.55)";
    ctx.fillRect(0, 0, width, box.y);
    ctx.fillRect(0, box.y + box.h, width, height - box.y - box.h);
    ctx.fillRect(0, box.y, box.x, box.h);
    ctx.fillRect(box.x + box.w, box.y, width - box.x - box.w, box.h);
    const [values, max] = displayValues(map);
    paintMap(ctx, values, max, box.x, box.y, box.w, box.h, Number(opacityInput.value) / 100);
    outlineArtifacts(ctx, map, box);
    ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
    ctx.lineWidth = 1;
    ctx.strokeRect(box.x + 0.5, box.y + 0.5, box.w - 1, box.h - 1);

    canvas.dataset.layer = String(map.layer);
    canvas.dataset.map = headSelect.value;
    canvas.dataset.step = map.kind === "spatial" ? String(map.step) : "";
    canvas.dataset.drawn = String(++drawCount);
    $("cbar-max").textContent = max.toFixed(4);
    $("map-caption").textContent = mapCaption(map);
    $("readout").textContent = "";
    for (const t of thumbs.querySelectorAll(".image-thumb")) {
      const on = isCaption() ? t.dataset.step === String(step) : t.dataset.map === headSelect.value;
      t.classList.toggle("selected", on);
      t.setAttribute("aria-pressed", String(on));
    }
    for (const b of captionWords.querySelectorAll(".caption-word")) {
      b.setAttribute("aria-pressed", String(b.dataset.step === String(step)));
    }
    saveUrl();
  }

  function outlineArtifacts(ctx, map, box) {
    if (hideArtifacts.checked || !response.artifact_patches.length) return;
    const [h, w] = map.shape;
    ctx.save();
    ctx.strokeStyle = "#00e5ff";
    ctx.setLineDash([3, 2]);
    for (const [r, c] of response.artifact_patches) {
      ctx.strokeRect(box.x + (c * box.w) / w, box.y + (r * box.h) / h, box.w / w, box.h / h);
    }
    ctx.restore();
  }

  // One thumbnail: the crop under the map, a label, and what clicking it selects.
  function thumb(map, label, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "image-thumb";
    const c = document.createElement("canvas");
    const [h, w] = map.shape;
    c.width = THUMB_SIDE;
    c.height = Math.round((THUMB_SIDE * h) / w);
    const ctx = c.getContext("2d");
    const [values, max] = displayValues(map);
    if (photo) {
      const [left, top, right, bottom] = response.preprocessing.crop_box;
      ctx.drawImage(photo, left, top, right - left, bottom - top, 0, 0, c.width, c.height);
    }
    paintMap(ctx, values, max, 0, 0, c.width, c.height, photo ? 0.75 : 1);
    const caption = document.createElement("span");
    caption.textContent = label;
    button.append(c, caption);
    button.addEventListener("click", onClick);
    return [button, caption];
  }

  function selectWord(i) {
    step = i;
    drawMain();
  }

  // Captions: one thumbnail per word for the selected layer and head (the Show-Attend-Tell figure).
  function drawWordThumbs() {
    const layer = selectedLayer();
    thumbs.replaceChildren(
      ...response.output_tokens.map((word, i) => {
        const map = findMap(layer, headSelect.value, i);
        const [button, caption] = thumb(map, word, () => selectWord(i));
        caption.className = "thumb-word";
        button.dataset.step = String(i);
        button.setAttribute("aria-label", `Show where the model looked for "${word}" (word ${i + 1})`);
        if (response.gates) {
          button.title = `image gate \u03b2 = ${response.gates[i].toFixed(2)}`;
          button.classList.toggle("low-gate", response.gates[i] < 0.5); // drawn faded: the word did not use the image
        }
        return button;
      })
    );
  }

  function drawCaption() {
    captionBox.hidden = !isCaption();
    $("thumbs-caption").textContent = isCaption()
      ? "Every word of the caption with the map of the step that wrote it (the selected layer and map), each " +
        "scaled to its own maximum; click one to open it."
      : THUMBS_TEXT;
    if (!isCaption()) {
      captionWords.replaceChildren();
      return;
    }
    captionWords.replaceChildren(
      ...response.output_tokens.map((word, i) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "secondary caption-word";
        b.dataset.step = String(i);
        b.textContent = word;
        b.setAttribute("aria-pressed", String(i === step));
        b.addEventListener("click", () => selectWord(i));
        return b;
      })
    );
  }

  function drawThumbs() {
    if (isCaption()) {
      drawWordThumbs();
      return;
    }
    const layer = selectedLayer();
    const choices = [...headSelect.options].map((o) => [o.value, o.textContent]);
    thumbs.replaceChildren(
      ...choices.map(([which, label]) => {
        const map = findMap(layer, which);
        const [button] = thumb(map, label, () => {
          headSelect.value = which;
          drawMain();
        });
        button.dataset.map = which;
        button.setAttribute("aria-label", `Open ${mapName(map)}`);
        return button;
      })
    );
  }

  function fillCaptionSelectors(wantedLayer, wantedMap, wantedStep) {
    const spatial = response.maps.filter((m) => m.kind === "spatial");
    const layers = [...new Set(spatial.filter((m) => m.layer !== null).map((m) => m.layer))];
    const heads = [...new Set(spatial.filter((m) => m.head !== null).map((m) => m.head))];
    layerSelect.disabled = layers.length === 0;
    headSelect.disabled = heads.length === 0;
    if (layers.length === 0) {
      layerSelect.replaceChildren(option("", "none (one map per word)"));
      headSelect.replaceChildren(option("mean", "attention"));
    } else {
      layerSelect.replaceChildren(...layers.map((l) => option(l, String(l))));
      headSelect.replaceChildren(...heads.map((h) => option(h, `head ${h}`)), option("mean", "mean over heads"));
      // Unless the URL names a layer, open the one that points best (chosen on validation scenes), else the last.
      const best = layers.includes(response.pointing_layer) ? response.pointing_layer : layers[layers.length - 1];
      layerSelect.value = layers.map(String).includes(String(wantedLayer)) ? String(wantedLayer) : String(best);
      const values = [...headSelect.options].map((o) => o.value);
      headSelect.value = values.includes(String(wantedMap)) ? String(wantedMap) : "mean";
    }
    const n = response.output_tokens.length;
    const s = Number(wantedStep);
    step = Number.isInteger(s) && s >= 0 && s < n ? s : 0;
  }

  function fillSelectors(wantedLayer, wantedMap, wantedStep) {
    if (isCaption()) {
      fillCaptionSelectors(wantedLayer, wantedMap, wantedStep);
      return;
    }
    layerSelect.disabled = false;
    headSelect.disabled = false;
    const layers = [...new Set(response.maps.map((m) => m.layer))];
    const heads = [...new Set(response.maps.filter((m) => m.kind === "cls" && m.head !== null).map((m) => m.head))];
    layerSelect.replaceChildren(...layers.map((l) => option(l, String(l))));
    headSelect.replaceChildren(
      ...heads.map((h) => option(h, `head ${h}`)),
      option("mean", "mean over heads"),
      option("rollout", "rollout")
    );
    const lastLayer = layers[layers.length - 1];
    layerSelect.value = layers.map(String).includes(String(wantedLayer)) ? String(wantedLayer) : String(lastLayer);
    const values = [...headSelect.options].map((o) => o.value);
    headSelect.value = values.includes(String(wantedMap)) ? String(wantedMap) : "mean";
  }

  function describeResult() {
    const p = response.preprocessing;
    const [H, W] = response.image_size;
    const [h, w] = response.grid;
    const [iH, iW] = response.input_size;
    const box = p.crop_box.map((v) => Math.round(v * 10) / 10).join(", ");
    const notes = [];
    if (p.exif_orientation !== 1) notes.push(`EXIF orientation ${p.exif_orientation} applied`);
    if (p.multi_frame) notes.push("first frame only");
    if (p.alpha_composited) notes.push("transparency composited on white");
    if (!photo) notes.push("this browser cannot display the file, so a grey box stands in for it");
    $("geometry").textContent =
      `${p.format} ${W} x ${H} px; the crop box [${box}] (left, top, right, bottom) was resized ` +
      `${p.resample}ly to ${iW} x ${iH} px = ${w} x ${h} patches. ${notes.join("; ")}${notes.length ? "." : ""}`;
    const n = response.artifact_patches.length;
    $("artifact-count").textContent =
      n === 0
        ? "None in this image by the rule used (patch norm over 2 x the median)."
        : `${n} in this image (outlined in cyan while shown).`;
  }

  function saveUrl() {
    const params = new URLSearchParams({ model: modelSelect.value });
    if (source && source.sample) params.set("sample", source.sample);
    params.set("layer", layerSelect.value);
    params.set("head", headSelect.value);
    if (isCaption()) params.set("step", String(step));
    history.replaceState(null, "", `?${params}`);
  }

  // ---- Requests ------------------------------------------------------------------------------

  async function run(view = {}) {
    if (!source) return;
    const seq = ++requestSeq;
    showError("");
    setBusy(true, `Running ${modelSelect.value}…`);
    try {
      const body = new FormData();
      body.append("model", modelSelect.value);
      body.append("file", source.blob, source.filename);
      const [r, img] = await Promise.all([
        fetch("/api/attention/image", { method: "POST", body }),
        decodePhoto(source.blob),
      ]);
      const answer = await r.json().catch(() => ({ detail: `The server answered HTTP ${r.status}.` }));
      if (seq !== requestSeq) return;
      if (!r.ok) throw new Error(answer.detail || `The server answered HTTP ${r.status}.`);
      response = answer;
      photo = img && img.naturalWidth === answer.image_size[1] && img.naturalHeight === answer.image_size[0]
        ? img : null;
      result.hidden = false;
      fillSelectors(view.layer, view.head, view.step);
      describeResult();
      drawCaption();
      drawThumbs();
      drawMain();
      const [h, w] = response.grid;
      const said = isCaption() ? `Caption of ${response.output_tokens.length} words: ` : "";
      const empty = isCaption() && response.output_tokens.length === 0 ? " The model generated an empty caption." : "";
      setBusy(false, `${said}${response.maps.length} maps over ${h} x ${w} patches.${empty}`);
    } catch (err) {
      if (seq !== requestSeq) return;
      setBusy(false, "");
      showError(err.message || String(err));
    }
  }

  function showPreview(blob) {
    const url = URL.createObjectURL(blob);
    preview.onload = () => URL.revokeObjectURL(url);
    preview.onerror = () => {
      URL.revokeObjectURL(url);
      preview.hidden = true;
    };
    preview.src = url;
    preview.hidden = false;
  }

  function runFile(file, view) {
    if (!file) return;
    source = { blob: file, filename: file.name || "upload", sample: null };
    for (const b of samplesBox.querySelectorAll("button")) b.setAttribute("aria-pressed", "false");
    showPreview(file);
    run(view);
  }

  async function runSample(name, view = {}) {
    showError("");
    setBusy(true, `Loading sample ${name}…`);
    try {
      const r = await fetch(`/api/samples/${encodeURIComponent(name)}`);
      if (!r.ok) throw new Error(`Could not load sample ${name} (HTTP ${r.status}).`);
      const blob = await r.blob();
      source = { blob, filename: `${name}.jpg`, sample: name };
      fileInput.value = "";
      for (const b of samplesBox.querySelectorAll("button")) {
        b.setAttribute("aria-pressed", String(b.dataset.sample === name));
      }
      showPreview(blob);
      await run(view);
    } catch (err) {
      setBusy(false, "");
      showError(err.message || String(err));
    }
  }

  // ---- Events --------------------------------------------------------------------------------

  form.addEventListener("submit", (e) => e.preventDefault());
  fileInput.addEventListener("change", () => runFile(fileInput.files[0], currentView()));
  for (const type of ["dragenter", "dragover"]) {
    dropzone.addEventListener(type, (e) => {
      e.preventDefault();
      dropzone.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    dropzone.addEventListener(type, () => dropzone.classList.remove("dragging"));
  }
  dropzone.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) runFile(file, currentView());
  });
  modelSelect.addEventListener("change", () => {
    describeModel();
    run(currentView());
  });
  layerSelect.addEventListener("change", () => {
    drawThumbs();
    drawMain();
  });
  headSelect.addEventListener("change", () => {
    if (isCaption()) drawThumbs(); // the word strip follows the selected head
    drawMain();
  });
  opacityInput.addEventListener("input", drawMain);
  hideArtifacts.addEventListener("change", () => {
    drawThumbs();
    drawMain();
  });
  canvas.addEventListener("mousemove", (e) => {
    if (!response) return;
    const map = currentMap();
    if (!map) return;
    const rect = canvas.getBoundingClientRect();
    const s = canvas.width / response.image_size[1];
    const box = cropRect(s);
    const x = ((e.clientX - rect.left) * canvas.width) / rect.width - box.x;
    const y = ((e.clientY - rect.top) * canvas.height) / rect.height - box.y;
    const [h, w] = map.shape;
    const r = Math.floor((y / box.h) * h);
    const c = Math.floor((x / box.w) * w);
    $("readout").textContent =
      r >= 0 && r < h && c >= 0 && c < w
        ? `Patch (row ${r}, column ${c}): weight ${map.values[r][c].toFixed(5)}`
        : "Outside the crop box: the model never saw this part.";
  });
  $("copy-link").addEventListener("click", async () => {
    saveUrl();
    try {
      await navigator.clipboard.writeText(location.href);
      statusLine.textContent = "Link copied.";
    } catch {
      statusLine.textContent = "Copy the address bar: it holds this view.";
    }
  });

  function currentView() {
    return response ? { layer: layerSelect.value, head: headSelect.value, step: isCaption() ? step : null } : {};
  }

  async function start() {
    $("colorbar").style.background = attnImage.heatGradient;
    const params = new URLSearchParams(location.search);
    try {
      await loadModels(params.get("model"));
    } catch (err) {
      showError(err.message);
      return;
    }
    const wanted = params.get("sample");
    const known = await loadSamples(wanted).catch(() => false);
    if (wanted && known) {
      runSample(wanted, { layer: params.get("layer"), head: params.get("head"), step: params.get("step") });
    }
  }
  start();
})();
