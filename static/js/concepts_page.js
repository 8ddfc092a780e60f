// "How attention works": live demonstrations from the served models. Tokens are set as text only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const MASK_MODEL = "transformer-en-es";
  const BERT = "minilm-l6";
  let perm = null; // last permutation answer
  let heads = null; // last MiniLM answer
  let seed = 0;

  function showError(message) {
    $("concept-error").textContent = message;
    $("concept-error").hidden = !message;
  }

  async function api(url, body) {
    const r = await fetch(url, body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({ detail: `The server answered HTTP ${r.status}.` }));
    if (!r.ok) throw new Error(data.detail || `HTTP ${r.status}`);
    return data;
  }

  function heatmap(div, values, rows, cols, title) {
    const rl = rows.map(attnColors.plotlyText);
    const cl = cols.map(attnColors.plotlyText);
    const axis = (labels) => ({ tickmode: "array", tickvals: labels.map((_, i) => i), ticktext: labels,
      showgrid: false, zeroline: false, tickfont: { size: 11 } });
    window.Plotly.react(div, [{
      type: "heatmap", z: values, colorscale: attnColors.plotlyScale, zmin: 0,
      text: rl.map((q) => cl.map((k) => `${q} → ${k}`)), hovertemplate: "%{text}: %{z:.4f}<extra></extra>",
    }], {
      title: { text: title, font: { size: 14 } }, height: 380, margin: { l: 80, r: 10, t: 40, b: 80 },
      xaxis: { ...axis(cl), tickangle: -45 }, yaxis: { ...axis(rl), autorange: "reversed" },
    }, { displaylogo: false, responsive: true });
  }

  function fillLayers(select, count) {
    if (select.options.length === count) return;
    select.replaceChildren(...Array.from({ length: count }, (_, i) => {
      const o = document.createElement("option");
      o.value = String(i);
      o.textContent = String(i);
      return o;
    }));
  }

  function drawPermutation() {
    const layer = Number($("perm-layer").value);
    const diff = perm.max_difference[layer];
    heatmap($("perm-original"), perm.original[layer], perm.tokens, perm.tokens, "Original order (mean over heads)");
    heatmap($("perm-shuffled"), perm.shuffled[layer], perm.shuffled_tokens, perm.shuffled_tokens, "Shuffled words");
    const verdict = $("perm-verdict");
    verdict.dataset.difference = String(diff);
    verdict.textContent = perm.use_positions
      ? `With positions: the shuffled map differs from the original map shuffled the same way by up to ${diff.toFixed(4)}.`
      : `Without positions: the shuffled map equals the original map shuffled the same way (largest difference ${diff.toExponential(1)}).`;
  }

  async function runPermutation() {
    perm = await api("/api/concepts/permutation", {
      text: $("concept-text").value, use_positions: $("use-positions").checked, seed,
    });
    fillLayers($("perm-layer"), perm.original.length);
    drawPermutation();
  }

  function drawHeads() {
    const layer = Number($("heads-layer").value);
    const maps = heads.maps.filter((m) => m.layer === layer);
    const box = $("heads-grid");
    box.replaceChildren(...maps.map((m) => {
      const cell = document.createElement("div");
      cell.className = "head-cell";
      const label = document.createElement("span");
      label.textContent = `head ${m.head}`;
      const plot = document.createElement("div");
      cell.append(label, plot);
      return cell;
    }));
    [...box.children].forEach((cell, i) => {
      const m = maps[i];
      window.Plotly.react(cell.lastChild, [{
        type: "heatmap", z: m.values, colorscale: attnColors.plotlyScale, zmin: 0, showscale: false,
        hovertemplate: "%{z:.3f}<extra></extra>",
      }], {
        height: 160, width: 160, margin: { l: 4, r: 4, t: 4, b: 4 },
        xaxis: { visible: false }, yaxis: { visible: false, autorange: "reversed" },
      }, { displayModeBar: false, staticPlot: false });
    });
  }

  async function runHeads() {
    heads = await api("/api/attention/text", { model: BERT, text: $("concept-text").value });
    fillLayers($("heads-layer"), new Set(heads.maps.map((m) => m.layer)).size);
    drawHeads();
  }

  async function runMask() {
    const note = $("mask-note");
    const listing = await api("/api/models");
    const model = listing.find((m) => m.id === MASK_MODEL && m.available);
    $("mask-plot").hidden = !model;
    if (!model) {
      note.textContent = `This needs our own translation Transformer (${MASK_MODEL}), which is not available here yet.`;
      return;
    }
    const out = await api("/api/attention/text", {
      model: MASK_MODEL, text: $("concept-text").value, kinds: ["decoder_self"], layers: [0],
    });
    const maps = out.maps;
    const mean = maps[0].values.map((row, i) => row.map((_, j) => maps.reduce((s, m) => s + m.values[i][j], 0) / maps.length));
    // the largest weight any head puts on a later step: the mask makes it exactly 0
    const ahead = Math.max(0, ...maps.flatMap((m) => m.values.flatMap((row, i) => row.slice(i + 1))));
    $("mask-plot").dataset.aboveDiagonal = String(ahead);
    note.textContent = `${MASK_MODEL} translated it as “${out.output_text}”. Decoder layer 0, mean over its `
      + `${maps.length} heads; the largest weight any head gives a later step is ${ahead}.`;
    heatmap($("mask-plot"), mean, maps[0].row_tokens, maps[0].col_tokens, "Masked decoder self-attention");
  }

  async function drawPositional() {
    const length = Number($("pe-length").value);
    const dim = Number($("pe-dim").value);
    const pe = await api(`/api/concepts/positional-encoding?length=${length}&d_model=${dim}`);
    window.Plotly.react($("pe-plot"), [{
      type: "heatmap", z: pe.values, colorscale: "RdBu", zmin: -1, zmax: 1,
      hovertemplate: "position %{y}, dimension %{x}: %{z:.3f}<extra></extra>",
    }], {
      height: 420, margin: { l: 60, r: 20, t: 20, b: 50 },
      xaxis: { title: { text: "dimension i" } }, yaxis: { title: { text: "position p" }, autorange: "reversed" },
    }, { displaylogo: false, responsive: true });
  }

  async function drawSchedule() {
    const dim = Number($("lr-dim").value);
    const warmup = Number($("lr-warmup").value);
    const s = await api(`/api/concepts/warmup?d_model=${dim}&warmup=${warmup}&steps=${Math.max(5 * warmup, 1000)}`);
    window.Plotly.react($("lr-plot"), [{ type: "scatter", mode: "lines", x: s.step, y: s.lr, name: "lr" }], {
      height: 320, margin: { l: 70, r: 20, t: 20, b: 50 },
      xaxis: { title: { text: "step" } }, yaxis: { title: { text: "learning rate" } },
      shapes: [{ type: "line", x0: warmup, x1: warmup, yref: "paper", y0: 0, y1: 1, line: { dash: "dot" } }],
    }, { displaylogo: false, responsive: true });
  }

  async function guarded(work) {
    try {
      showError("");
      await work();
    } catch (err) {
      showError(err.message || String(err));
    }
  }

  async function runAll() {
    $("concept-run").disabled = true;
    $("concept-status").textContent = "Running…";
    await guarded(async () => {
      await Promise.all([runPermutation(), runHeads(), runMask()]);
    });
    $("concept-status").textContent = "";
    $("concept-run").disabled = false;
  }

  $("concept-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runAll();
  });
  $("use-positions").addEventListener("change", () => guarded(runPermutation));
  $("shuffle").addEventListener("click", () => {
    seed += 1;
    guarded(runPermutation);
  });
  $("perm-layer").addEventListener("change", drawPermutation);
  $("heads-layer").addEventListener("change", drawHeads);
  for (const id of ["pe-length", "pe-dim"]) $(id).addEventListener("change", () => guarded(drawPositional));
  for (const id of ["lr-dim", "lr-warmup"]) $(id).addEventListener("change", () => guarded(drawSchedule));
  guarded(drawPositional);
  guarded(drawSchedule);
  runAll();
})();
