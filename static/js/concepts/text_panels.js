// The text panels of /concepts: the bottleneck, one Bahdanau step, the score functions, softmax
// saturation, multi-head attention and the Transformer decoder (masked self- and cross-attention).
// Each panel makes one request per input and redraws selections from the answer it holds.

import { getJSON, postJSON } from "../lib/api.js";
import { plotlyScale } from "../lib/colours.js";
import { $, el } from "../lib/dom.js";
import { drawHeatmap, plot } from "../lib/heatmap.js";
import { fillSelect, lines, tokenBars, tokenButtons, vectorBars } from "./charts.js";
import { Panel } from "./panel.js";

const fmt = (x, digits = 3) => Number(x).toFixed(digits);

// ---------------------------------------------------------------- 1. the bottleneck

export function bottleneckPanel() {
  const panel = new Panel("panel-bottleneck");
  const draw = async (d) => {
    const series = d.models.map((m) => ({
      name: `${m.label}${m.attention ? "" : " (baseline)"}`, x: d.buckets, y: m.bleu_by_length,
      dash: m.attention ? "solid" : "dash",
    }));
    await lines($("#bottleneck-plot"), series, {
      xTitle: "source length (words)", yTitle: "test BLEU (greedy)", height: 380, category: true,
    });
    const base = d.models.find((m) => m.model === d.baseline);
    const best = d.models.filter((m) => m.attention).sort((a, b) => b.bleu - a.bleu)[0];
    $("#bottleneck-note").textContent = base && best
      ? `Overall test BLEU: ${base.label} ${fmt(base.bleu, 2)}, ${best.label} ${fmt(best.bleu, 2)} (best with attention). `
        + `Source: ${d.report}.`
      : `Source: ${d.report}.`;
  };
  return { load: () => panel.load((signal) => getJSON("/api/concepts/bottleneck", { signal }), draw) };
}

// ---------------------------------------------------------------- 2. one Bahdanau step

export function bahdanauPanel() {
  const panel = new Panel("panel-bahdanau");
  let text = "";
  const draw = async (d) => {
    tokenButtons($("#bahdanau-steps"), d.output_tokens, d.step, (t) => load(text, t),
      (tok, i) => `step ${i}: produced ${tok}`);
    $("#bahdanau-note").textContent = `Step ${d.step}: the decoder read “${d.previous_token}”, attended, and produced `
      + `“${d.produced_token}” (probability ${fmt(d.produced_probability)}). Translation: “${d.output_text}”.`;
    const src = d.source_tokens;
    await tokenBars($("#bahdanau-scores"), src, d.scores, { title: "scores e_ti", yTitle: "e_ti", colour: "#7f7f7f" });
    await tokenBars($("#bahdanau-weights"), src, d.weights, { title: "weights a_ti = softmax(e_t)", yTitle: "a_ti", range: [0, 1] });
    await vectorBars($("#bahdanau-context"), [{ name: "c_t", values: d.context, colour: "#1f5fa8" }], {
      title: `context c_t = Σ a_ti k_i (${d.context.length} numbers: the weighted sum of the encoder states)`,
    });
  };
  const load = (sentence, step = 0) => {
    text = sentence;
    return panel.load((signal) => postJSON("/api/concepts/bahdanau", { text, step }, { signal }), draw);
  };
  return { load };
}

// ---------------------------------------------------------------- 3. every score function

export function scoresPanel() {
  const panel = new Panel("panel-scores");
  const draw = async (d) => {
    const grid = $("#score-grid");
    const cells = d.variants.filter((v) => v.available).map((v) => {
      const plotBox = el("div", { class: "plot", dataset: { model: v.model } });
      const cell = el("div", { class: "score-cell", dataset: { available: "true" } },
        el("h3", {}, v.model), el("p", {}, v.formula), el("p", {}, `→ “${v.output_text}”`), plotBox);
      return [cell, plotBox, v];
    });
    grid.replaceChildren(...cells.map((c) => c[0]));
    const missing = d.variants.filter((v) => !v.available).map((v) => v.score.replace(/_/g, " "));
    $("#scores-note").textContent = missing.length ? `Not trained here yet: ${missing.join(", ")}.` : "";
    for (const [, box, v] of cells) {
      await drawHeatmap(box, {
        z: v.values, x: v.col_tokens, y: v.row_tokens, zmin: 0, zmax: 1,
        xTitle: "source", yTitle: "generated", height: Math.min(560, 22 * v.row_tokens.length + 200),
      });
    }
  };
  return {
    load: (text) => panel.load((signal) => postJSON("/api/concepts/score-functions", { text }, { signal }), draw),
  };
}

// ---------------------------------------------------------------- 4. saturation and sqrt(d_k)

export function saturationPanel() {
  const panel = new Panel("panel-qkv");
  let seed = 0;
  const draw = async (d) => {
    const dims = d.dims.map((r) => r.d);
    await lines($("#sat-plot"), [
      { name: "softmax(q·k)", x: dims, y: d.dims.map((r) => r.raw.max_weight) },
      { name: "softmax(q·k / √d)", x: dims, y: d.dims.map((r) => r.scaled.max_weight) },
    ], {
      title: `largest of ${d.keys} weights (mean of ${d.trials} draws)`, xTitle: "d_k", yTitle: "max weight",
      logX: true, yRange: [0, 1.02],
    });
    const widest = d.dims[d.dims.length - 1];
    const keys = widest.raw.example.map((_, i) => `k${i + 1}`);
    const idx = keys.map((_, i) => i);
    await plot($("#sat-example"), [
      { type: "bar", name: "raw", x: idx, y: widest.raw.example, marker: { color: "#d62728" } },
      { type: "bar", name: "÷ √d", x: idx, y: widest.scaled.example, marker: { color: "#1f5fa8" } },
    ], {
      title: { text: `one query at d_k = ${widest.d}`, font: { size: 14 } }, height: 340, barmode: "group",
      margin: { l: 60, r: 10, t: 40, b: 60 }, legend: { orientation: "h", y: -0.2 },
      xaxis: { tickmode: "array", tickvals: idx, ticktext: keys }, yaxis: { title: { text: "weight" }, range: [0, 1] },
    });
    $("#sat-note").textContent = `At d_k = ${widest.d} the raw scores have standard deviation `
      + `${fmt(widest.raw.score_std, 1)} and the softmax keeps ${fmt(widest.raw.entropy, 2)} of `
      + `${fmt(d.max_entropy, 2)} nats of entropy; scaled, the deviation is ${fmt(widest.scaled.score_std, 2)} `
      + `and the entropy ${fmt(widest.scaled.entropy, 2)} nats. Seed ${d.seed}.`;
  };
  const load = () => {
    const keys = Math.min(64, Math.max(2, Number($("#sat-keys").value) || 10));
    return panel.load((signal) => getJSON(`/api/concepts/saturation?keys=${keys}&trials=500&seed=${seed}`, { signal }), draw);
  };
  $("#sat-redraw").addEventListener("click", () => {
    seed += 1;
    load();
  });
  $("#sat-keys").addEventListener("change", load);
  return { load };
}

// ---------------------------------------------------------------- 5. multi-head: side by side, concat, project

export function multiheadPanel() {
  const panel = new Panel("panel-heads");
  let text = "";
  const draw = async (d) => {
    fillSelect($("#heads-layer"), d.layers, String, d.layer);
    fillSelect($("#mh-query"), d.tokens.length, (i) => `${i}: ${d.tokens[i]}`, d.query);
    const grid = $("#heads-grid");
    const boxes = d.maps.map(() => el("div", { class: "plot" }));
    grid.replaceChildren(...boxes.map((box, h) => el("div", { class: "head-cell" }, el("span", {}, `head ${h}`), box)));
    await Promise.all(d.maps.map((values, h) => plot(boxes[h], [{
      type: "heatmap", z: values, colorscale: plotlyScale, zmin: 0, zmax: 1, showscale: false,
      hovertemplate: "%{z:.3f}<extra></extra>",
    }], {
      height: 130, margin: { l: 2, r: 2, t: 2, b: 2 },
      xaxis: { visible: false }, yaxis: { visible: false, autorange: "reversed" },
    }, { displayModeBar: false })));
    const heads = d.weights.map((_, h) => `head ${h}`);
    await drawHeatmap($("#mh-weights"), {
      z: d.weights, x: d.tokens, y: heads, zmin: 0, zmax: 1, height: 420,
      title: `what “${d.tokens[d.query]}” attends to, per head (layer ${d.layer})`, xTitle: "key", yTitle: "head",
    });
    await drawHeatmap($("#mh-outputs"), {
      z: d.head_outputs, x: d.head_outputs[0].map((_, i) => String(i)), y: heads, scale: "diverging", height: 420,
      title: `each head's output a_h V_h (${d.heads} × ${d.d_head})`, xTitle: "dimension in the head", yTitle: "head",
      colorbarTitle: "value",
    });
    await vectorBars($("#mh-concat"), [
      { name: "concat", values: d.concat, colour: "#7f7f7f" },
      { name: "W_O · concat + b_O", values: d.output, colour: "#1f5fa8" },
    ], { title: `concatenated (${d.concat.length} = ${d.heads} × ${d.d_head}), then projected`, height: 320 });
    $("#mh-note").textContent = `Head h fills dimensions ${d.d_head}·h to ${d.d_head}·h + ${d.d_head - 1} of the `
      + "concatenation; the projection mixes all of them into every output dimension.";
  };
  const load = (sentence = text) => {
    text = sentence;
    const layer = Number($("#heads-layer").value) || 0;
    const query = $("#mh-query").options.length ? Number($("#mh-query").value) : 1;
    return panel.load((signal) => postJSON("/api/concepts/multihead", { text, layer, query }, { signal }), draw);
  };
  $("#heads-layer").addEventListener("change", () => load());
  $("#mh-query").addEventListener("change", () => load());
  return {
    load: (sentence) => {
      $("#mh-query").replaceChildren(); // a new sentence: its tokens differ
      return load(sentence);
    },
  };
}

// ---------------------------------------------------------------- 6 and 7. the Transformer decoder

export function decoderPanels() {
  const mask = new Panel("panel-mask");
  const cross = new Panel("panel-cross");
  let text = "";
  const drawMask = async (d) => {
    fillSelect($("#decoder-layer"), d.layers, String, d.layer);
    const m = d.masked;
    $("#mask-plot").dataset.aboveDiagonal = String(m.max_ahead);
    $("#mask-note").textContent = `${d.model} translated it as “${d.output_text}”. Decoder layer ${d.layer}, mean `
      + `over its ${m.heads.length} heads; the largest weight any head gives a later step is ${m.max_ahead}.`;
    await drawHeatmap($("#mask-plot"), {
      z: m.mean, x: m.col_tokens, y: m.row_tokens, zmin: 0, zmax: 1,
      xTitle: "fed in so far (keys)", yTitle: "producing (queries)", title: "masked decoder self-attention",
    });
  };
  const drawCross = async (d) => {
    await drawHeatmap($("#cross-plot"), {
      z: d.cross.mean, x: d.cross.col_tokens, y: d.cross.row_tokens, zmin: 0, zmax: 1,
      xTitle: "source (encoder keys)", yTitle: "generated (decoder queries)", title: `cross-attention, layer ${d.layer}`,
    });
  };
  const load = (sentence = text) => {
    text = sentence;
    const layer = Number($("#decoder-layer").value) || 0;
    const request = postJSON("/api/concepts/decoder", { text, layer });
    request.catch(() => {}); // each panel reports the failure itself
    return Promise.all([mask.load(() => request, drawMask), cross.load(() => request, drawCross)]);
  };
  $("#decoder-layer").addEventListener("change", () => load());
  return { load };
}
