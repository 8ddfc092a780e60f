// A layer x head grid of checkboxes for switching heads off (the image and audio pages): H0.. across, L0.. down.
// Each box carries data-layer, data-head (and data-kind when a kind is given) and calls onChange when ticked.

import { el } from "./dom.js";

export function fillHeadCheckboxes(grid, { layers, heads, kind = null, name = null, onChange }) {
  grid.style.gridTemplateColumns = `auto repeat(${heads}, auto)`;
  const cells = [el("span")];
  for (let h = 0; h < heads; h++) cells.push(el("span", { class: "grid-label" }, `H${h}`));
  for (let l = 0; l < layers; l++) {
    cells.push(el("span", { class: "grid-label" }, `L${l}`));
    for (let h = 0; h < heads; h++) {
      const label = name ? `${name}, layer ${l}, head ${h}` : `Layer ${l}, head ${h}`;
      const box = el("input", { type: "checkbox", dataset: { layer: l, head: h, ...(kind ? { kind } : {}) }, "aria-label": label });
      box.addEventListener("change", onChange);
      cells.push(box);
    }
  }
  grid.replaceChildren(...cells);
  return grid;
}
