// Head view: queries on the left, keys on the right, one line per weight, one colour per head.
// A query is isolated by click, tap, Enter or Space (again to show all rows); tokens are SVG text
// nodes set with textContent, never markup.

import { headColour } from "./colours.js";

const SVG = "http://www.w3.org/2000/svg";
const MIN_WEIGHT = 0.02; // fainter lines are invisible anyway and would only slow the page

function svg(name, attrs = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

// heads: [{head, values}]; focus: the query row isolated, or null; onFocus(row | null) is called
// when the user picks a query. The SVG scales down to the container's width.
export function drawHeadView(container, { rowTokens, colTokens, heads, focus = null, onFocus = () => {} }) {
  const rowH = 22;
  const width = 460;
  const leftX = 150;
  const rightX = width - 150;
  const height = rowH * Math.max(rowTokens.length, colTokens.length) + 20;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, class: "head-view-svg" });
  root.setAttribute("aria-label", "Head view: lines from each query token to the keys it attends to");
  const y = (i) => 16 + i * rowH;
  const lines = svg("g", { "aria-hidden": "true" });
  for (const { head, values } of heads) {
    values.forEach((row, i) => {
      if (focus !== null && focus !== i) return;
      for (let j = 0; j < row.length; j++) {
        const w = row[j];
        if (w < MIN_WEIGHT) continue;
        lines.append(svg("line", {
          x1: leftX + 6, y1: y(i) - 4, x2: rightX - 6, y2: y(j) - 4,
          stroke: headColour(head), "stroke-opacity": Math.min(1, w), "stroke-width": 2,
        }));
      }
    });
  }
  root.append(lines);
  rowTokens.forEach((tok, i) => {
    const t = svg("text", { x: leftX, y: y(i), "text-anchor": "end", class: "hv-token hv-query", tabindex: 0, role: "button" });
    t.textContent = tok;
    t.dataset.row = String(i);
    t.setAttribute("aria-pressed", String(focus === i));
    t.setAttribute("aria-label", `Query ${i + 1}: ${tok}. ${focus === i ? "Show all queries" : "Show only this query"}`);
    if (focus === i) t.classList.add("hv-focus");
    const pick = () => onFocus(focus === i ? null : i);
    t.addEventListener("click", pick);
    t.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        pick();
      }
    });
    root.append(t);
  });
  colTokens.forEach((tok, j) => {
    const t = svg("text", { x: rightX, y: y(j), "text-anchor": "start", class: "hv-token" });
    t.textContent = tok;
    root.append(t);
  });
  const hadFocus = container.contains(document.activeElement) ? document.activeElement.dataset?.row : undefined;
  container.replaceChildren(root);
  // Redrawing replaces the nodes: keep keyboard focus on the same query.
  if (hadFocus !== undefined) root.querySelector(`[data-row="${hadFocus}"]`)?.focus();
}
