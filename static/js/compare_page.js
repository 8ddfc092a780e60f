// Compare mode: one sentence through several translation models, their cross-attention side by side,
// and difference maps where the tokens match. Tokens are set as text only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let models = [];

  function showError(message) {
    $("compare-error").textContent = message;
    $("compare-error").hidden = !message;
  }

  function axis(labels) {
    return { tickmode: "array", tickvals: labels.map((_, i) => i), ticktext: labels, showgrid: false,
      zeroline: false, tickfont: { size: 11 } };
  }

  function heatmap(div, values, rows, cols, options) {
    const rl = rows.map(attnColors.plotlyText);
    const cl = cols.map(attnColors.plotlyText);
    window.Plotly.react(div, [{
      type: "heatmap", z: values, text: rl.map((q) => cl.map((k) => `${q} → ${k}`)),
      hovertemplate: "%{text}: %{z:.4f}<extra></extra>", ...options,
    }], {
      height: Math.min(560, Math.max(300, 24 * rows.length + 150)), margin: { l: 90, r: 10, t: 10, b: 90 },
      xaxis: { ...axis(cl), tickangle: -45 }, yaxis: { ...axis(rl), autorange: "reversed" },
    }, { displaylogo: false, responsive: true });
  }

  function sameTokens(a, b) {
    return a.rows.length === b.rows.length && a.cols.length === b.cols.length &&
      a.rows.every((t, i) => t === b.rows[i]) && a.cols.every((t, i) => t === b.cols[i]);
  }

  // The last cross-attention layer of a model, averaged over its heads (float16 on the wire).
  async function crossMap(model, text, words) {
    const shape = model.attention_shapes.find((s) => s.kind === "cross");
    const body = { model: model.id, text, word_level: words, encoding: "f16", kinds: ["cross"] };
    if (shape) body.layers = [shape.layers - 1];
    else delete body.kinds;
    const r = await fetch("/api/attention/text", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({ detail: `HTTP ${r.status}` }));
    if (!r.ok) throw new Error(`${model.id}: ${data.detail}`);
    const maps = data.maps.map(attnMath.decodeMap);
    if (!maps.length) return { model, text: data.output_text, note: data.note, values: null };
    return {
      model, text: data.output_text, note: data.note, layer: maps[0].layer,
      values: attnMath.combine(maps, "mean"), rows: maps[0].row_tokens, cols: maps[0].col_tokens,
    };
  }

  function card(title) {
    const box = document.createElement("section");
    box.className = "compare-card";
    const h = document.createElement("h2");
    h.textContent = title;
    box.append(h);
    return box;
  }

  function render(results) {
    const out = $("compare-results");
    out.replaceChildren();
    for (const res of results) {
      const box = card(res.model.id);
      box.dataset.model = res.model.id;
      const p = document.createElement("p");
      p.className = "output";
      p.textContent = res.text ?? "";
      box.append(p);
      if (res.values) {
        const caption = document.createElement("p");
        caption.className = "hint";
        caption.textContent = `Cross-attention, layer ${res.layer}, mean over heads.`;
        const plot = document.createElement("div");
        plot.className = "compare-plot";
        box.append(caption, plot);
        out.append(box);
        heatmap(plot, res.values, res.rows, res.cols, { colorscale: attnColors.plotlyScale, zmin: 0, zmax: 1 });
      } else {
        const note = document.createElement("p");
        note.className = "note";
        note.textContent = res.note || "This model returned no attention maps.";
        box.append(note);
        out.append(box);
      }
    }
    // Difference maps for every pair of models that produced the same tokens.
    const withMaps = results.filter((r) => r.values);
    let pairs = 0;
    withMaps.forEach((a, i) => withMaps.slice(i + 1).forEach((b) => {
      if (!sameTokens(a, b)) return;
      pairs += 1;
      const box = card(`${a.model.id} − ${b.model.id}`);
      box.classList.add("difference");
      const diff = a.values.map((row, r) => row.map((v, c) => v - b.values[r][c]));
      const largest = Math.max(...diff.flat().map(Math.abs));
      box.dataset.maxDifference = String(largest);
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = `Same tokens. Largest difference ${largest.toFixed(4)} (red: ${a.model.id} attends more).`;
      const plot = document.createElement("div");
      plot.className = "compare-plot";
      box.append(p, plot);
      out.append(box);
      heatmap(plot, diff, b.rows, b.cols, { colorscale: "RdBu", zmid: 0 });
    }));
    if (withMaps.length > 1 && pairs === 0) {
      const box = card("Difference maps");
      box.classList.add("difference");
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = "No two models produced the same tokens, so no difference map can be drawn (rows must match).";
      box.append(p);
      out.append(box);
    }
  }

  function picked() {
    return [...document.querySelectorAll("#model-picks input:checked")].map((b) => models.find((m) => m.id === b.value));
  }

  async function run() {
    const chosen = picked();
    if (chosen.length < 2) {
      showError("Pick two or more models.");
      return;
    }
    const text = $("compare-text").value;
    if (!text.trim()) {
      showError("Type a sentence first.");
      return;
    }
    showError("");
    $("compare-run").disabled = true;
    $("compare-status").textContent = `Running ${chosen.length} models…`;
    const words = $("compare-words").checked;
    const params = new URLSearchParams({ text, models: chosen.map((m) => m.id).join(",") });
    if (words) params.set("words", "1");
    history.replaceState(null, "", `?${params}`);
    try {
      const results = [];
      for (const model of chosen) results.push(await crossMap(model, text, words));  // one at a time: 2 cores
      render(results);
      $("compare-status").textContent = `${results.length} models compared.`;
    } catch (err) {
      showError(err.message || String(err));
      $("compare-status").textContent = "";
    }
    $("compare-run").disabled = false;
  }

  async function start() {
    const params = new URLSearchParams(location.search);
    if (params.has("text")) $("compare-text").value = params.get("text");
    $("compare-words").checked = params.get("words") === "1";
    const r = await fetch("/api/models");
    models = (await r.json()).filter((m) => m.task === "translation");
    const wanted = params.has("models") ? params.get("models").split(",") : null;
    const available = models.filter((m) => m.available);
    const defaults = new Set((wanted || available.slice(0, 2).map((m) => m.id)));
    $("model-picks").replaceChildren(...models.map((m) => {
      const label = document.createElement("label");
      label.className = "check";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = m.id;
      box.disabled = !m.available;
      box.checked = m.available && defaults.has(m.id);
      label.title = m.available ? m.description : `unavailable: ${m.unavailable_reason}`;
      label.append(box, document.createTextNode(` ${m.id}${m.available ? "" : " (not available)"}`));
      return label;
    }));
    if (wanted) run();
  }

  $("compare-form").addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });
  start().catch((err) => showError(err.message || String(err)));
})();
