// The image panels of /concepts: a captioner's word-by-word attention on a composed scene, and DINOv2's
// class token and attention rollout on a sample photo. Maps come with the picture the model saw.

import { getJSON } from "../lib/api.js";
import { $, option } from "../lib/dom.js";
import { loadImage, photoMap, tokenButtons } from "./charts.js";
import { Panel } from "./panel.js";

const fmt = (x, digits = 3) => Number(x).toFixed(digits);
const canvasSize = (canvas) => Math.max(160, Math.min(448, Math.round(canvas.parentElement.clientWidth || 448)));

export function captionPanel() {
  const panel = new Panel("panel-caption");
  let word = 0;
  let img = null;
  const drawWord = (d) => {
    word = Math.min(word, d.tokens.length - 1);
    tokenButtons($("#caption-words"), d.tokens, word, (i) => {
      word = i;
      panel.redraw(drawWord);
    }, (t, i) => `word ${i + 1}: ${t}`);
    const canvas = $("#caption-canvas");
    photoMap(canvas, img, d.maps[word], { size: canvasSize(canvas) });
    canvas.setAttribute("aria-label", `Attention of “${d.tokens[word]}” over the scene`);
    const gate = d.gates ? `, gate β = ${fmt(d.gates[word], 2)}` : "";
    const outside = d.non_patch[word] > 0 ? `, ${fmt(d.non_patch[word], 2)} of the weight on non-patch tokens` : "";
    $("#caption-note").textContent = `${d.model}, scene ${d.scene}: “${d.caption}” (reference: “${d.reference}”). `
      + `Word ${word + 1}, “${d.tokens[word]}”: its step's attention over the ${d.grid[0]} × ${d.grid[1]} patches`
      + `${d.layers > 1 ? ` (decoder layer ${d.layer}, mean over heads)` : ""}${outside}${gate}; brightest = most weight.`;
  };
  const draw = async (d) => {
    img = await loadImage(d.image);
    word = d.tokens.findIndex((t) => !["a", "an", "the", "to", "of", "and", "left", "right", "above", "below"].includes(t));
    if (word < 0) word = 0;
    if (!d.tokens.length) throw new Error(`${d.model} generated no words for this scene.`);
    drawWord(d);
  };
  const load = () => {
    const model = $("#caption-model").value;
    const scene = Math.min(999, Math.max(0, Number($("#caption-scene").value) || 0));
    return panel.load((signal) => getJSON(`/api/concepts/captioning?model=${encodeURIComponent(model)}&scene=${scene}`, { signal }), draw);
  };
  $("#caption-model").addEventListener("change", load);
  $("#caption-scene").addEventListener("change", load);
  return { load };
}

export function vitPanel() {
  const panel = new Panel("panel-vit");
  let img = null;
  const drawLayer = (d) => {
    const layer = Number($("#vit-layer").value);
    $("#vit-layer-value").textContent = String(layer);
    const gridLines = $("#vit-grid").checked;
    for (const [id, maps] of [["#vit-cls", d.cls], ["#vit-rollout", d.rollout]]) {
      const canvas = $(id);
      photoMap(canvas, img, maps[layer], { size: canvasSize(canvas), gridLines });
    }
    $("#vit-note").textContent = `${d.model} read ${d.tokens} tokens: the class token and ${d.grid[0]} × ${d.grid[1]} `
      + `patches of ${d.patch_size} × ${d.patch_size} px. In layer ${layer} the class token keeps `
      + `${fmt(d.cls_self[layer], 2)} of its attention on itself (mean over heads); the rollout keeps `
      + `${fmt(d.rollout_self[layer], 2)}. Each map is scaled to its own maximum.`;
  };
  const draw = async (d) => {
    img = await loadImage(d.image);
    $("#vit-layer").max = String(d.cls.length - 1);
    drawLayer(d);
  };
  const load = () => {
    const sample = $("#vit-sample").value || "chelsea";
    return panel.load((signal) => getJSON(`/api/concepts/vit?sample=${encodeURIComponent(sample)}`, { signal }), draw);
  };
  $("#vit-layer").addEventListener("input", () => panel.redraw(drawLayer));
  $("#vit-grid").addEventListener("change", () => panel.redraw(drawLayer));
  $("#vit-sample").addEventListener("change", load);
  return {
    load: async () => {
      if (!$("#vit-sample").options.length) {
        try {
          const samples = await getJSON("/api/samples");
          $("#vit-sample").replaceChildren(...samples.map((s) => option(s.name, s.title)));
        } catch {
          $("#vit-sample").replaceChildren(option("chelsea", "Chelsea the cat"));
        }
      }
      return load();
    },
  };
}
