// The panels /concepts had before the lecture was filled in: permutation without positions, the
// sinusoidal positional encoding and the warm-up schedule, now drawn through the shared library.

import { getJSON, postJSON } from "../lib/api.js";
import { $, showError, clearError } from "../lib/dom.js";
import { drawHeatmap, purge } from "../lib/heatmap.js";
import { fillSelect, lines } from "./charts.js";
import { Panel } from "./panel.js";

// The permutation demonstration shares the positions section with the encoding table but has its own
// error box and request, so it is a small panel of its own inside that section.
export function permutationPanel() {
  const state = { text: "", seed: 0, data: null, id: 0 };
  const error = $("#perm-error");
  const draw = async () => {
    const d = state.data;
    const layer = Number($("#perm-layer").value) || 0;
    const diff = d.max_difference[layer];
    const verdict = $("#perm-verdict");
    verdict.dataset.difference = String(diff);
    verdict.textContent = d.use_positions
      ? `With positions: the shuffled map differs from the original map shuffled the same way by up to ${diff.toFixed(4)}.`
      : `Without positions: the shuffled map equals the original map shuffled the same way (largest difference ${diff.toExponential(1)}).`;
    await drawHeatmap($("#perm-original"), {
      z: d.original[layer], x: d.tokens, y: d.tokens, zmin: 0, title: "original order (mean over heads)",
    });
    await drawHeatmap($("#perm-shuffled"), {
      z: d.shuffled[layer], x: d.shuffled_tokens, y: d.shuffled_tokens, zmin: 0, title: "shuffled words",
    });
  };
  const load = async (text = state.text) => {
    state.text = text;
    state.id += 1;
    const id = state.id;
    state.data = null;
    $("#perm-verdict").textContent = "";
    purge($("#perm-original"));
    purge($("#perm-shuffled"));
    clearError(error);
    try {
      const data = await postJSON("/api/concepts/permutation", {
        text, use_positions: $("#use-positions").checked, seed: state.seed,
      });
      if (id !== state.id) return;
      state.data = data;
      fillSelect($("#perm-layer"), data.original.length);
      await draw();
    } catch (err) {
      if (id === state.id) showError(error, err.message || String(err));
    }
  };
  $("#use-positions").addEventListener("change", () => load());
  $("#shuffle").addEventListener("click", () => {
    state.seed += 1;
    load();
  });
  $("#perm-layer").addEventListener("change", () => state.data && draw());
  return { load };
}

export function positionalPanel() {
  const panel = new Panel("panel-pe");
  const draw = (pe) => drawHeatmap($("#pe-plot"), {
    z: pe.values, x: pe.values[0].map((_, i) => String(i)), y: pe.values.map((_, p) => String(p)),
    scale: "diverging", zmin: -1, zmax: 1, xTitle: "dimension i", yTitle: "position p", colorbarTitle: "PE",
    height: 820,
  });
  const load = () => {
    const length = Number($("#pe-length").value);
    const dim = Number($("#pe-dim").value);
    return panel.load((signal) => getJSON(`/api/concepts/positional-encoding?length=${length}&d_model=${dim}`, { signal }), draw);
  };
  for (const id of ["#pe-length", "#pe-dim"]) $(id).addEventListener("change", load);
  return { load };
}

export function warmupPanel() {
  const panel = new Panel("panel-lr");
  let warmup = 4000;
  const draw = (s) => lines($("#lr-plot"), [{ name: "lr", x: s.step, y: s.lr, markers: false }], {
    xTitle: "step", yTitle: "learning rate", height: 320,
    shapes: [{ type: "line", x0: warmup, x1: warmup, yref: "paper", y0: 0, y1: 1, line: { dash: "dot" } }],
  });
  const load = () => {
    const dim = Number($("#lr-dim").value);
    warmup = Number($("#lr-warmup").value);
    const steps = Math.max(5 * warmup, 1000);
    return panel.load((signal) => getJSON(`/api/concepts/warmup?d_model=${dim}&warmup=${warmup}&steps=${steps}`, { signal }), draw);
  };
  for (const id of ["#lr-dim", "#lr-warmup"]) $(id).addEventListener("change", load);
  return { load };
}
