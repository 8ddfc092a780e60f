// Text attention page: fetch maps for a sentence, then draw the selected head (or an aggregate) as a
// Plotly heatmap or a head view, every layer x head as canvas thumbnails, and per-head statistics.
// Tokens are only ever set as text, never HTML.
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
  const mergeBox = $("merge");
  const referenceBox = $("reference");
  const referenceNote = $("reference-note");
  const heatmap = $("heatmap");
  const headViewBox = $("head-view");
  const grid = $("grid");

  const KIND_NAMES = {
    self: "self-attention",
    encoder_self: "encoder self-attention",
    decoder_self: "decoder self-attention (masked)",
    cross: "cross-attention",
  };
  const AGGREGATES = { mean: "mean over heads", max: "max over heads", rollout: "rollout up to this layer" };
  let models = [];
  let response = null; // tokens and text of the last answer, plus every map fetched so far
  let requestSeq = 0; // answers to older requests are dropped
  let query = null; // {model, text} the maps belong to
  const exactKeys = new Set(); // "kind/layer" whose maps hold float16 (not thumbnail u8) values
  let pickedHeads = null; // heads drawn in the head view
  let focusRow = null; // query isolated in the head view
  let sortKey = "head";
  let reference = null; // the aligner's word links for the current answer: {links, source_words, target_words}
  const REFERENCE_PAIRS = [["en", "es"]]; // language pairs whose aligner priors the server has

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function setBusy(busy, message) {
    runButton.disabled = busy;
    form.setAttribute("aria-busy", String(busy));
    statusLine.textContent = message || "";
  }

  const option = modelPicker.option;

  function currentView() {
    return document.querySelector('input[name="view"]:checked').value;
  }

  // The aligner's links exist for English->Spanish translation models only.
  function referenceOffered() {
    const m = models.find((x) => x.id === (query ? query.model : modelSelect.value));
    return !!m && m.task === "translation" && REFERENCE_PAIRS.some(([s, t]) => m.source_lang === s && m.target_lang === t);
  }

  // POST /api/attention/text for the current query; the API's {detail} becomes the error message.
  async function postText(fields) {
    const r = await fetch("/api/attention/text", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: query.model, text: query.text, ...fields }),
    });
    const body = await r.json().catch(() => ({ detail: `The server answered HTTP ${r.status}.` }));
    if (!r.ok) throw new Error(body.detail || `The server answered HTTP ${r.status}.`);
    return body;
  }

  async function fetchReference() {
    const fields = { layers: [0], kinds: ["cross"], word_level: true, encoding: "u8", reference: "eflomal" };
    return (await postText(fields)).reference;
  }

  // Share of linked target words whose attention argmax is a linked source word.
  function referenceAgreement(values) {
    const linked = new Map();
    for (const [t, s] of reference.links) {
      if (!linked.has(t)) linked.set(t, new Set());
      linked.get(t).add(s);
    }
    let hits = 0;
    for (const [t, sources] of linked) {
      const row = values[t];
      if (!row) continue;
      const best = row.reduce((b, v, j) => (v > row[b] ? j : b), 0);
      if (sources.has(best)) hits += 1;
    }
    return { hits, total: linked.size };
  }

  // The links drawn on the heatmap when they fit its axes (cross-attention, merged into words).
  function referenceOverlay(map) {
    referenceNote.hidden = !referenceBox.checked || !reference;
    if (!referenceBox.checked || !reference) return null;
    if (map.kind !== "cross" || !mergeBox.checked) {
      referenceNote.textContent = "The aligner links words: choose cross-attention and turn on “Merge subwords into words” to see them.";
      return null;
    }
    const { hits, total } = referenceAgreement(map.values);
    const share = total ? Math.round((100 * hits) / total) : 0;
    referenceNote.textContent = `Aligner (eflomal) agreement: ${hits} of ${total} linked target words (${share}%) have their attention argmax on a linked source word. Rings mark the aligner's links.`;
    return {
      type: "scatter",
      mode: "markers",
      name: "eflomal link",
      x: reference.links.map(([, s]) => s),
      y: reference.links.map(([t]) => t),
      marker: { symbol: "circle-open", size: 16, line: { width: 2 }, color: "#d62728" },
      hovertemplate: "aligner link<extra></extra>",
      showlegend: false,
    };
  }

  async function loadModels(wanted) {
    models = await modelPicker.fill(modelSelect, ["encoder", "decoder", "translation"], wanted);
    describeModel();
  }

  function describeModel() {
    const m = models.find((x) => x.id === modelSelect.value);
    $("model-note").textContent = m ? `${m.description}. ${m.notes}` : "";
  }

  function kindMaps(kind = kindSelect.value) {
    return response.maps.filter((m) => m.kind === kind);
  }

  function layerMaps(layer, kind = kindSelect.value) {
    return kindMaps(kind).filter((m) => m.layer === layer);
  }

  // Fetch some layers in one encoding and merge them into response.maps (same key: replaced).
  async function fetchMaps(layers, encoding, kinds) {
    const body = await postText({ layers, encoding, ...(kinds ? { kinds } : {}) });
    const fresh = body.maps.map(attnMath.decodeMap);
    const key = (m) => `${m.kind}/${m.layer}/${m.head}`;
    const replaced = new Set(fresh.map(key));
    if (response) response.maps = response.maps.filter((m) => !replaced.has(key(m))).concat(fresh);
    if (encoding === "f16") for (const m of fresh) exactKeys.add(`${m.kind}/${m.layer}`);
    return body;
  }

  // Float16 values for the layers a view needs (thumbnails arrive as uint8).
  async function ensureExact(layers, kind = kindSelect.value) {
    const missing = layers.filter((l) => !exactKeys.has(`${kind}/${l}`));
    if (missing.length) await fetchMaps(missing, "f16", [kind]);
  }

  function layerCount(kind) {
    const m = models.find((x) => x.id === query.model);
    const shape = m && m.attention_shapes.find((s) => s.kind === kind);
    return shape ? shape.layers : 1;
  }

  // Values and labels as displayed: merged into words when asked.
  function display(values, rowTokens, colTokens) {
    if (!mergeBox.checked) return { values, rowTokens, colTokens };
    return attnMath.mergeWords(values, rowTokens, colTokens);
  }

  // The map shown large: one head, or an aggregate of the layer's heads.
  function selectedMap() {
    const layer = Number(layerSelect.value);
    const heads = layerMaps(layer);
    const choice = headSelect.value;
    const base = heads[0];
    let values;
    if (choice in AGGREGATES) {
      if (choice === "rollout") {
        const byLayer = [];
        for (let l = 0; l <= layer; l++) byLayer.push(layerMaps(l));
        values = attnMath.rollout(byLayer, layer);
      } else {
        values = attnMath.combine(heads, choice);
      }
    } else {
      values = heads.find((m) => m.head === Number(choice)).values;
    }
    return { kind: base.kind, layer, head: choice, ...display(values, base.row_tokens, base.col_tokens) };
  }

  function headLabel(head) {
    return head in AGGREGATES ? AGGREGATES[head] : `head ${head}`;
  }

  function drawHeatmap(map) {
    const rows = map.rowTokens.length;
    const cols = map.colTokens.length;
    const rowLabels = map.rowTokens.map(attnColors.plotlyText);
    const colLabels = map.colTokens.map(attnColors.plotlyText);
    const hover = rowLabels.map((q) => colLabels.map((k) => `${q} → ${k}`));
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
      title: { text: `Layer ${map.layer}, ${headLabel(map.head)} (${KIND_NAMES[map.kind]})` },
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
    const overlay = referenceOverlay(map);
    heatmap.dataset.referenceLinks = overlay ? String(overlay.x.length) : "0";
    window.Plotly.react(heatmap, overlay ? [trace, overlay] : [trace], layout, { responsive: true, displaylogo: false });
  }

  function drawHeadView() {
    const layer = Number(layerSelect.value);
    const heads = layerMaps(layer);
    if (pickedHeads === null || pickedHeads.some((h) => !heads.some((m) => m.head === h))) {
      pickedHeads = headSelect.value in AGGREGATES ? heads.map((m) => m.head) : [Number(headSelect.value)];
    }
    const picker = $("head-picker");
    picker.replaceChildren(
      ...heads.map((m) => {
        const label = document.createElement("label");
        label.className = "swatch";
        label.style.setProperty("--swatch", headView.color(m.head));
        const box = document.createElement("input");
        box.type = "checkbox";
        box.checked = pickedHeads.includes(m.head);
        box.dataset.head = String(m.head);
        box.addEventListener("change", () => {
          pickedHeads = heads.filter((x) => picker.querySelector(`input[data-head="${x.head}"]`).checked)
            .map((x) => x.head);
          drawHeadView();
        });
        label.append(box, document.createTextNode(` ${m.head}`));
        return label;
      })
    );
    const drawn = heads.filter((m) => pickedHeads.includes(m.head)).map((m) => ({
      head: m.head,
      ...display(m.values, m.row_tokens, m.col_tokens),
    }));
    const first = drawn[0] || display(heads[0].values, heads[0].row_tokens, heads[0].col_tokens);
    headView.draw($("head-lines"), first.rowTokens, first.colTokens, drawn, focusRow, (row) => {
      focusRow = row;
      drawHeadView();
    });
  }

  async function drawMain() {
    const layer = Number(layerSelect.value);
    const needed = headSelect.value === "rollout" ? [...Array(layer + 1).keys()] : [layer];
    const seq = requestSeq;
    try {
      await ensureExact(needed);
    } catch (err) {
      showError(err.message || String(err));
      return;
    }
    if (seq !== requestSeq) return;
    const map = selectedMap();
    const heads = currentView() === "heads";
    heatmap.hidden = heads;
    headViewBox.hidden = !heads;
    if (heads) {
      referenceNote.hidden = true;
      drawHeadView();
    } else {
      drawHeatmap(map);
    }
    heatmap.dataset.layer = String(map.layer);
    heatmap.dataset.head = String(map.head);
    for (const t of grid.querySelectorAll(".thumb")) {
      const on = t.dataset.layer === layerSelect.value && t.dataset.head === headSelect.value;
      t.classList.toggle("selected", on);
      t.setAttribute("aria-pressed", String(on));
    }
    drawStats();
    saveUrl();
  }

  function drawThumb(canvas, values) {
    const rows = values.length;
    const cols = values[0].length;
    canvas.width = cols;
    canvas.height = rows;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(cols, rows);
    let max = 0;
    for (const row of values) for (const v of row) max = Math.max(max, v);
    values.forEach((row, i) =>
      row.forEach((v, j) => {
        const [r, g, b] = attnColors.rgb(max > 0 ? v / max : 0);
        img.data.set([r, g, b, 255], 4 * (i * cols + j));
      })
    );
    ctx.putImageData(img, 0, 0);
  }

  function drawGrid() {
    const maps = kindMaps();
    const layers = [...Array(layerCount(kindSelect.value)).keys()];
    const heads = [...new Set(maps.map((m) => m.head))];
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
        const map = maps.find((m) => m.layer === layer && m.head === head);
        const button = document.createElement("button");
        button.type = "button";
        button.className = "thumb";
        button.dataset.layer = String(layer);
        button.dataset.head = String(head);
        button.title = `Layer ${layer}, head ${head}`;
        button.setAttribute("aria-label", `Open layer ${layer}, head ${head}`);
        const canvas = document.createElement("canvas");
        if (map) drawThumb(canvas, display(map.values, map.row_tokens, map.col_tokens).values);
        button.dataset.loaded = String(Boolean(map));
        button.disabled = !map;
        button.append(canvas);
        button.addEventListener("click", () => {
          layerSelect.value = String(layer);
          headSelect.value = String(head);
          pickedHeads = null;
          drawMain();
          $("main-caption").scrollIntoView({ block: "nearest", behavior: "smooth" });
        });
        cells.push(button);
      }
    }
    grid.replaceChildren(...cells);
  }

  function drawStats() {
    const heads = layerMaps(Number(layerSelect.value));
    const consensus = display(attnMath.combine(heads, "mean"), heads[0].row_tokens, heads[0].col_tokens).values;
    const rows = heads.map((m) => {
      const shown = display(m.values, m.row_tokens, m.col_tokens);
      return { head: m.head, ...attnMath.headStats(shown.values, shown.colTokens),
        agreement: attnMath.argmaxAgreement(shown.values, consensus) };
    });
    rows.sort((a, b) => (sortKey === "head" ? a.head - b.head : b[sortKey] - a[sortKey]));
    const body = $("stats-table").tBodies[0];
    body.replaceChildren(
      ...rows.map((r) => {
        const tr = document.createElement("tr");
        tr.tabIndex = 0;
        tr.dataset.head = String(r.head);
        if (String(r.head) === headSelect.value) tr.className = "selected";
        for (const text of [String(r.head), r.entropy.toFixed(3), r.distance.toFixed(2),
          r.special.toFixed(3), r.agreement.toFixed(2)]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.append(td);
        }
        const open = () => {
          headSelect.value = String(r.head);
          pickedHeads = null;
          drawMain();
        };
        tr.addEventListener("click", open);
        tr.addEventListener("keydown", (e) => {
          if (e.key === "Enter") open();
        });
        return tr;
      })
    );
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
    const maps = kindMaps();
    const layers = [...Array(layerCount(kindSelect.value)).keys()];
    const heads = [...new Set(maps.map((m) => m.head))];
    // Rollout composes a square map with itself: self-attention kinds only.
    const square = maps[0].row_tokens.length === maps[0].col_tokens.length && kindSelect.value !== "cross";
    const aggregates = Object.entries(AGGREGATES).filter(([k]) => k !== "rollout" || square);
    layerSelect.replaceChildren(...layers.map((l) => option(l, String(l))));
    headSelect.replaceChildren(...heads.map((h) => option(h, String(h))), ...aggregates.map(([k, v]) => option(k, v)));
    if (layers.map(String).includes(String(wantedLayer))) layerSelect.value = String(wantedLayer);
    const headValues = [...headSelect.options].map((o) => o.value);
    if (headValues.includes(String(wantedHead))) headSelect.value = String(wantedHead);
  }

  function saveUrl() {
    const params = new URLSearchParams({
      model: modelSelect.value,
      text: textBox.value,
      kind: kindSelect.value,
      layer: layerSelect.value,
      head: headSelect.value,
      view: currentView(),
    });
    if (mergeBox.checked) params.set("words", "1");
    if (referenceBox.checked) params.set("ref", "1");
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
    query = { model: modelSelect.value, text };
    response = null;
    reference = null;
    referenceNote.hidden = true;
    exactKeys.clear();
    try {
      // Thumbnails first, as uint8, one layer at a time; the open head as float16.
      const body = await fetchMaps([0], "u8");
      if (seq !== requestSeq) return;
      response = { ...body, maps: body.maps.map(attnMath.decodeMap) };
      result.hidden = false;
      $("output").hidden = body.output_text === null;
      $("output-text").textContent = body.output_text ?? "";
      $("note").hidden = !body.note;
      $("note").textContent = body.note ?? "";
      const hasMaps = body.maps.length > 0;
      for (const part of [$("view-controls"), document.querySelector("#result .views"), document.querySelector("#result .stats")]) {
        part.hidden = !hasMaps;
      }
      if (!hasMaps) {
        setBusy(false, `${body.input_tokens.length} tokens, ${body.output_tokens ? body.output_tokens.length : 0} generated, no attention maps.`);
        return;
      }
      pickedHeads = null;
      focusRow = null;
      $("reference-control").hidden = !referenceOffered();
      if (referenceBox.checked && referenceOffered()) {
        try {
          reference = await fetchReference();
        } catch (err) {
          showError(err.message || String(err));
        }
        if (seq !== requestSeq) return;
      }
      fillSelectors(view.layer ?? 0, view.head ?? 0, view.kind);
      drawGrid();
      await drawMain();
      const total = Math.max(...[...new Set(response.maps.map((m) => m.kind))].map(layerCount));
      for (let layer = 1; layer < total; layer++) {
        statusLine.textContent = `Loading layer ${layer + 1} of ${total}…`;
        await fetchMaps([layer], "u8");
        if (seq !== requestSeq) return;
        drawGrid();
      }
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
    pickedHeads = null;
    drawGrid();
    drawMain();
  });
  layerSelect.addEventListener("change", () => {
    pickedHeads = null;
    drawMain();
  });
  headSelect.addEventListener("change", () => {
    pickedHeads = null;
    drawMain();
  });
  mergeBox.addEventListener("change", () => {
    focusRow = null;
    drawGrid();
    drawMain();
  });
  referenceBox.addEventListener("change", async () => {
    if (referenceBox.checked && !reference && query && referenceOffered()) {
      const seq = requestSeq;
      setBusy(true, "Aligning with eflomal…");
      try {
        const found = await fetchReference();
        if (seq !== requestSeq) return;
        reference = found;
        setBusy(false, "");
      } catch (err) {
        setBusy(false, "");
        showError(err.message || String(err));
      }
    }
    drawMain();
  });
  for (const radio of document.querySelectorAll('input[name="view"]')) radio.addEventListener("change", drawMain);
  for (const button of document.querySelectorAll("#stats-table th button")) {
    button.addEventListener("click", () => {
      sortKey = button.dataset.sort;
      drawStats();
    });
  }
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
    mergeBox.checked = params.get("words") === "1";
    referenceBox.checked = params.get("ref") === "1";
    if (params.get("view") === "heads") document.querySelector('input[name="view"][value="heads"]').checked = true;
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
