// Text attention page: fetch maps for a sentence, draw one head large with Plotly and
// every layer x head as canvas thumbnails. Tokens are only ever set as text, never HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("text-form");
  const modelSelect = $("model");
  const textBox = $("text");
  const runButton = $("run");
  const statusLine = $("status");
  const errorBox = $("error");
  const result = $("result");
  const kindSelect = $("kind");
  const layerSelect = $("layer");
  const headSelect = $("head");
  const heatmap = $("heatmap");
  const grid = $("grid");

  const KIND_NAMES = {
    self: "self-attention",
    encoder_self: "encoder self-attention",
    decoder_self: "decoder self-attention (masked)",
    cross: "cross-attention",
  };
  let models = [];
  let response = null; // last successful API answer
  let requestSeq = 0; // answers to older requests are dropped

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function setBusy(busy, message) {
    runButton.disabled = busy;
    form.setAttribute("aria-busy", String(busy));
    statusLine.textContent = message || "";
  }

  function option(value, label, disabled = false) {
    const o = document.createElement("option");
    o.value = String(value);
    o.textContent = label;
    o.disabled = disabled;
    return o;
  }

  async function loadModels(wanted) {
    const r = await fetch("/api/models");
    if (!r.ok) throw new Error(`Could not list models (HTTP ${r.status}).`);
    models = (await r.json()).filter((m) => m.task === "encoder" || m.task === "translation");
    modelSelect.replaceChildren(
      ...models.map((m) =>
        option(m.id, m.available ? m.id : `${m.id} (unavailable: ${m.unavailable_reason})`, !m.available)
      )
    );
    const firstAvailable = models.find((m) => m.available);
    if (wanted && models.some((m) => m.id === wanted && m.available)) modelSelect.value = wanted;
    else if (firstAvailable) modelSelect.value = firstAvailable.id;
    describeModel();
  }

  function describeModel() {
    const m = models.find((x) => x.id === modelSelect.value);
    $("model-note").textContent = m ? `${m.description}. ${m.notes}` : "";
  }

  function mapsOf(kind, layer) {
    return response.maps.filter((m) => m.kind === kind && m.layer === layer);
  }

  // The map to show large: one head, or the mean over the layer's heads (rows still sum to 1).
  function selectedMap() {
    const kind = kindSelect.value;
    const layer = Number(layerSelect.value);
    const heads = mapsOf(kind, layer);
    if (headSelect.value !== "mean") return heads.find((m) => m.head === Number(headSelect.value));
    const mean = heads[0].values.map((row, i) =>
      row.map((_, j) => heads.reduce((s, m) => s + m.values[i][j], 0) / heads.length)
    );
    return { ...heads[0], head: "mean", values: mean };
  }

  function drawHeatmap() {
    const map = selectedMap();
    const [rows, cols] = map.shape;
    const rowLabels = map.row_tokens.map(attnColors.plotlyText);
    const colLabels = map.col_tokens.map(attnColors.plotlyText);
    const hover = rowLabels.map((q) => colLabels.map((k) => `${q} → ${k}`));
    const headName = map.head === "mean" ? "mean over heads" : `head ${map.head}`;
    const small = Math.max(rows, cols) > 40;
    const axis = (labels, title) => ({
      title: { text: title },
      tickmode: "array",
      tickvals: labels.map((_, i) => i),
      ticktext: labels,
      tickfont: { size: small ? 9 : 13 },
      showgrid: false,
      zeroline: false,
    });
    const layout = {
      title: { text: `Layer ${map.layer}, ${headName} (${KIND_NAMES[map.kind]})` },
      xaxis: { ...axis(colLabels, "key (attended to)"), side: "bottom", tickangle: -45 },
      yaxis: { ...axis(rowLabels, "query (attending)"), autorange: "reversed" },
      margin: { l: 110, r: 20, t: 50, b: 110 },
      height: Math.min(820, Math.max(420, 28 * rows + 180)),
    };
    const trace = {
      type: "heatmap",
      z: map.values,
      x: colLabels.map((_, i) => i),
      y: rowLabels.map((_, i) => i),
      text: hover,
      hovertemplate: "%{text}: %{z:.4f}<extra></extra>",
      colorscale: attnColors.plotlyScale,
      zmin: 0,
      colorbar: { title: { text: "weight" } },
    };
    window.Plotly.react(heatmap, [trace], layout, { responsive: true, displaylogo: false });
    heatmap.dataset.layer = String(map.layer);
    heatmap.dataset.head = String(map.head);
    for (const t of grid.querySelectorAll(".thumb")) {
      const on = t.dataset.layer === layerSelect.value && t.dataset.head === headSelect.value;
      t.classList.toggle("selected", on);
      t.setAttribute("aria-pressed", String(on));
    }
    saveUrl();
  }

  function drawThumb(canvas, map) {
    const [rows, cols] = map.shape;
    canvas.width = cols;
    canvas.height = rows;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(cols, rows);
    let max = 0;
    for (const row of map.values) for (const v of row) max = Math.max(max, v);
    map.values.forEach((row, i) =>
      row.forEach((v, j) => {
        const [r, g, b] = attnColors.rgb(max > 0 ? v / max : 0);
        img.data.set([r, g, b, 255], 4 * (i * cols + j));
      })
    );
    ctx.putImageData(img, 0, 0);
  }

  function drawGrid() {
    const kind = kindSelect.value;
    const kindMaps = response.maps.filter((m) => m.kind === kind);
    const layers = [...new Set(kindMaps.map((m) => m.layer))];
    const heads = [...new Set(kindMaps.map((m) => m.head))];
    grid.style.gridTemplateColumns = `auto repeat(${heads.length}, minmax(0, 1fr))`;
    const cells = [document.createElement("span")];
    for (const h of heads) {
      const label = document.createElement("span");
      label.className = "grid-label";
      label.textContent = `H${h}`;
      cells.push(label);
    }
    for (const layer of layers) {
      const label = document.createElement("span");
      label.className = "grid-label";
      label.textContent = `L${layer}`;
      cells.push(label);
      for (const head of heads) {
        const map = kindMaps.find((m) => m.layer === layer && m.head === head);
        const button = document.createElement("button");
        button.type = "button";
        button.className = "thumb";
        button.dataset.layer = String(layer);
        button.dataset.head = String(head);
        button.title = `Layer ${layer}, head ${head}`;
        button.setAttribute("aria-label", `Open layer ${layer}, head ${head}`);
        const canvas = document.createElement("canvas");
        drawThumb(canvas, map);
        button.append(canvas);
        button.addEventListener("click", () => {
          layerSelect.value = String(layer);
          headSelect.value = String(head);
          drawHeatmap();
          heatmap.scrollIntoView({ block: "nearest", behavior: "smooth" });
        });
        cells.push(button);
      }
    }
    grid.replaceChildren(...cells);
  }

  function fillSelectors(wantedLayer, wantedHead, wantedKind) {
    const kinds = [...new Set(response.maps.map((m) => m.kind))];
    kindSelect.replaceChildren(...kinds.map((k) => option(k, KIND_NAMES[k])));
    kindSelect.disabled = kinds.length < 2;
    // Translation models open on cross-attention: the alignment people come to see.
    kindSelect.value = kinds.includes(wantedKind) ? wantedKind : kinds.includes("cross") ? "cross" : kinds[0];
    fillLayerHead(wantedLayer, wantedHead);
  }

  function fillLayerHead(wantedLayer, wantedHead) {
    const kindMaps = response.maps.filter((m) => m.kind === kindSelect.value);
    const layers = [...new Set(kindMaps.map((m) => m.layer))];
    const heads = [...new Set(kindMaps.map((m) => m.head))];
    layerSelect.replaceChildren(...layers.map((l) => option(l, String(l))));
    headSelect.replaceChildren(option("mean", "mean over heads"), ...heads.map((h) => option(h, String(h))));
    if (layers.map(String).includes(String(wantedLayer))) layerSelect.value = String(wantedLayer);
    if (wantedHead === "mean" || heads.map(String).includes(String(wantedHead))) headSelect.value = String(wantedHead);
  }

  function saveUrl() {
    const params = new URLSearchParams({
      model: modelSelect.value,
      text: textBox.value,
      kind: kindSelect.value,
      layer: layerSelect.value,
      head: headSelect.value,
    });
    history.replaceState(null, "", `?${params}`);
  }

  async function run(view = {}) {
    const text = textBox.value;
    if (!text.trim()) {
      showError("Type a sentence first.");
      textBox.focus();
      return;
    }
    const seq = ++requestSeq;
    showError("");
    setBusy(true, `Running ${modelSelect.value}…`);
    try {
      const r = await fetch("/api/attention/text", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: modelSelect.value, text }),
      });
      const body = await r.json().catch(() => ({ detail: `The server answered HTTP ${r.status}.` }));
      if (seq !== requestSeq) return;
      if (!r.ok) throw new Error(body.detail || `The server answered HTTP ${r.status}.`);
      response = body;
      result.hidden = false;
      $("output").hidden = body.output_text === null;
      $("output-text").textContent = body.output_text ?? "";
      fillSelectors(view.layer ?? 0, view.head ?? 0, view.kind);
      drawGrid();
      drawHeatmap();
      const n = response.input_tokens.length;
      const generated = response.output_tokens ? `, ${response.output_tokens.length} generated` : "";
      setBusy(false, `${n} tokens${generated}, ${response.maps.length} maps.`);
    } catch (err) {
      if (seq !== requestSeq) return;
      setBusy(false, "");
      showError(err.message || String(err));
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run({ layer: layerSelect.value, head: headSelect.value, kind: kindSelect.value });
  });
  textBox.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  modelSelect.addEventListener("change", describeModel);
  kindSelect.addEventListener("change", () => {
    fillLayerHead(layerSelect.value, headSelect.value);
    drawGrid();
    drawHeatmap();
  });
  layerSelect.addEventListener("change", drawHeatmap);
  headSelect.addEventListener("change", drawHeatmap);
  $("copy-link").addEventListener("click", async () => {
    saveUrl();
    try {
      await navigator.clipboard.writeText(location.href);
      statusLine.textContent = "Link copied.";
    } catch {
      statusLine.textContent = "Copy the address bar: it holds this view.";
    }
  });

  async function start() {
    const params = new URLSearchParams(location.search);
    if (params.has("text")) textBox.value = params.get("text");
    try {
      await loadModels(params.get("model"));
    } catch (err) {
      showError(err.message);
      return;
    }
    if (params.has("text")) {
      run({ layer: params.get("layer"), head: params.get("head"), kind: params.get("kind") });
    }
  }
  start();
})();
