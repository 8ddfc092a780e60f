// Evaluation page: draws reports/translation_eval.json (GET /api/reports/translation). Text is set as text only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const BUCKETS = ["1-10", "11-20", "21-30", "31+"];
  const ATTENTION_COLOUR = "#1f5fa8";
  const EFLOMAL_COLOUR = "#8a94a3";
  const PLOT_CONFIG = { displaylogo: false, responsive: true };

  function showError(message) {
    $("eval-error").textContent = message;
    $("eval-error").hidden = !message;
  }

  async function getJson(url) {
    const r = await fetch(url);
    const data = await r.json().catch(() => ({ detail: `The server answered HTTP ${r.status}.` }));
    if (!r.ok) throw new Error(data.detail || `HTTP ${r.status}`);
    return data;
  }

  const fmt = (value, digits) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));

  function cell(tag, text) {
    const el = document.createElement(tag);
    el.textContent = text;
    return el;
  }

  function drawTable(report) {
    const rows = Object.entries(report.models).map(([id, m]) => {
      const tr = document.createElement("tr");
      tr.dataset.model = id;
      const name = cell("th", id);
      name.scope = "row";
      tr.append(name, cell("td", fmt(m.bleu, 2)), cell("td", fmt(m.chrf, 2)),
        cell("td", fmt(m.beam5 ? m.beam5.bleu : null, 2)), cell("td", fmt(m.aer, 3)),
        cell("td", fmt(m.heads ? m.heads.best_head.aer : null, 3)));
      if (m.heads) tr.cells[5].title = `${m.heads.best_head.readout}, chosen on the dev split's links`;
      return tr;
    });
    $("scores-table").tBodies[0].replaceChildren(...rows);
    const s = report.splits;
    $("splits").textContent = `Verses: ${s.train} train, ${s.dev} dev, ${s.test} test. `
      + "BLEU and chrF: greedy decoding (sacreBLEU); beam 5 from each model's training metrics where present.";
  }

  function drawLengths(report) {
    const counts = report.splits.test_by_length || {};
    const labels = BUCKETS.map((b) => (counts[b] === undefined ? `${b} words` : `${b} words (${counts[b]})`));
    const traces = Object.entries(report.models).map(([id, m]) => ({
      type: "bar", name: attnColors.plotlyText(id), x: labels,
      y: BUCKETS.map((b) => m.bleu_by_length[b]),
      hovertemplate: `${attnColors.plotlyText(id)}<br>%{x}: BLEU %{y:.2f}<extra></extra>`,
    }));
    window.Plotly.react($("length-plot"), traces, {
      barmode: "group", height: 360, margin: { l: 60, r: 10, t: 20, b: 60 },
      yaxis: { title: { text: "BLEU" }, rangemode: "tozero" }, xaxis: { title: { text: "English source length" } },
      legend: { orientation: "h", y: -0.25 },
    }, PLOT_CONFIG);
  }

  function drawAer(report) {
    const bars = Object.entries(report.models)
      .filter(([, m]) => m.aer !== null && m.aer !== undefined)
      .flatMap(([id, m]) => [
        { label: m.heads ? `${id} heads averaged` : `${id} attention`, aer: m.aer, detail: m.alignment,
          colour: ATTENTION_COLOUR },
        ...(m.heads ? [{ label: `${id} best head (${m.heads.best_head.readout})`, aer: m.heads.best_head.aer,
          detail: m.heads.best_head, colour: ATTENTION_COLOUR }] : []),
      ]);
    const directions = (report.eflomal && report.eflomal.directions) || {};
    for (const [name, d] of Object.entries(directions)) {
      if (name === "forward" || name === "grow-diag-final-and") {
        bars.push({ label: `eflomal ${name}`, aer: d.aer, detail: d, colour: EFLOMAL_COLOUR });
      }
    }
    if (!Object.keys(directions).length && report.eflomal) {
      bars.push({ label: "eflomal", aer: report.eflomal.aer, detail: null, colour: EFLOMAL_COLOUR });
    }
    const labels = bars.map((b) => attnColors.plotlyText(b.label));
    const hover = bars.map((b) => (b.detail
      ? `precision ${fmt(b.detail.precision, 3)}, recall ${fmt(b.detail.recall, 3)}` : ""));
    window.Plotly.react($("aer-plot"), [{
      type: "bar", x: labels, y: bars.map((b) => b.aer), marker: { color: bars.map((b) => b.colour) },
      text: bars.map((b) => fmt(b.aer, 3)), textposition: "outside", customdata: hover,
      hovertemplate: "%{x}: AER %{y:.3f}<br>%{customdata}<extra></extra>",
    }], {
      height: 380, margin: { l: 60, r: 10, t: 20, b: 120 },
      yaxis: { title: { text: "AER (lower is better)" }, range: [0, 1] }, xaxis: { tickangle: -20 },
    }, PLOT_CONFIG);
    $("aer-plot").dataset.bars = String(bars.length);
    const ref = report.reference_links;
    $("aer-note").textContent = ref
      ? `${ref.links} reference links between ${ref.spanish_words_scored} Spanish and ${ref.english_words_scored} `
        + "English words (lemma level, many-to-many). With one link per Spanish word, recall is at most "
        + `${fmt(ref.max_recall_one_link_per_spanish_word, 3)}, so every AER stays high: compare the bars with `
        + "each other. Hover a bar for precision and recall."
      : "";
  }

  function drawProtocol(report) {
    const items = Object.entries(report.protocol || {}).flatMap(([key, text]) => [
      cell("dt", key.replace(/_/g, " ")), cell("dd", String(text)),
    ]);
    $("protocol").replaceChildren(...items);
    $("notes").replaceChildren(...(report.notes || []).map((n) => cell("li", String(n))));
  }

  async function main() {
    try {
      const report = await getJson("/api/reports/translation");
      const n = Object.keys(report.models).length;
      drawTable(report);
      drawLengths(report);
      drawAer(report);
      drawProtocol(report);
      const runtime = report.runtime_seconds === undefined ? "" : ` (written in ${report.runtime_seconds} s)`;
      $("eval-status").textContent = `${n} model${n === 1 ? "" : "s"} evaluated${runtime}.`;
      document.body.dataset.evalReady = "true";
    } catch (err) {
      $("eval-status").textContent = "";
      showError(err.message);
    }
  }

  main();
})();
