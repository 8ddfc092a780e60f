// Head view: queries on the left, keys on the right, one line per weight, one colour per head.
// Tokens are SVG text nodes set with textContent, never markup.
"use strict";

const headView = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"];
  const MIN_WEIGHT = 0.02; // fainter lines are invisible anyway and would only slow the page

  function color(head) {
    return COLORS[head % COLORS.length];
  }

  function el(name, attrs) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  }

  // heads: [{head, values}], focus: a query row to isolate, or null for all rows.
  function draw(container, rowTokens, colTokens, heads, focus, onFocus) {
    const rowH = 22;
    const width = 460;
    const leftX = 150;
    const rightX = width - 150;
    const height = rowH * Math.max(rowTokens.length, colTokens.length) + 20;
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
    svg.setAttribute("aria-label", "Head view: lines from each query token to the keys it attends to");
    const y = (i) => 16 + i * rowH;
    const lines = el("g", {});
    for (const { head, values } of heads) {
      values.forEach((row, i) => {
        if (focus !== null && focus !== i) return;
        row.forEach((w, j) => {
          if (w < MIN_WEIGHT) return;
          lines.append(el("line", {
            x1: leftX + 6, y1: y(i) - 4, x2: rightX - 6, y2: y(j) - 4,
            stroke: color(head), "stroke-opacity": Math.min(1, w), "stroke-width": 2,
          }));
        });
      });
    }
    svg.append(lines);
    rowTokens.forEach((tok, i) => {
      const t = el("text", { x: leftX, y: y(i), "text-anchor": "end", class: "hv-token hv-query" });
      t.textContent = tok;
      if (focus === i) t.classList.add("hv-focus");
      t.addEventListener("mouseenter", () => onFocus(i));
      t.addEventListener("mouseleave", () => onFocus(null));
      svg.append(t);
    });
    colTokens.forEach((tok, j) => {
      const t = el("text", { x: rightX, y: y(j), "text-anchor": "start", class: "hv-token" });
      t.textContent = tok;
      svg.append(t);
    });
    container.replaceChildren(svg);
  }

  return { draw, color };
})();
