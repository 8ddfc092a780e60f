// One lecture panel of /concepts: its section, its own error box and its latest request. A panel's view is
// drawn from (request, response, selection): a new request clears the old drawing first, a superseded answer
// is dropped, and an error replaces the drawing. section.dataset.state is "loading", "drawn" or "error".

import { isAbort, Latest } from "../lib/api.js";
import { $, clearError, showError } from "../lib/dom.js";
import { purge } from "../lib/heatmap.js";

export class Panel {
  constructor(id) {
    this.section = document.getElementById(id);
    this.errorBox = $(".panel-error", this.section);
    this.latest = new Latest();
    this.data = null; // the last answer drawn
  }

  // Removes every drawing of the panel (plots purged, canvases blanked, generated rows emptied).
  clear() {
    for (const plot of this.section.querySelectorAll(".plot")) purge(plot);
    for (const canvas of this.section.querySelectorAll("canvas")) {
      canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
      delete canvas.dataset.drawn;
    }
    for (const box of this.section.querySelectorAll(".token-row, .heads-grid, .score-grid")) box.replaceChildren();
    for (const note of this.section.querySelectorAll(".hint[id], .verdict")) note.textContent = "";
  }

  // Fetches with fetcher(signal), then draws with draw(data). Returns once drawn, failed or superseded.
  async load(fetcher, draw) {
    const { signal, id } = this.latest.next();
    this.section.dataset.state = "loading";
    this.section.setAttribute("aria-busy", "true");
    this.data = null;
    this.clear();
    clearError(this.errorBox);
    try {
      const data = await fetcher(signal);
      if (!this.latest.current(id)) return;
      this.data = data;
      await draw(data);
      if (this.latest.current(id)) this.section.dataset.state = "drawn";
    } catch (err) {
      if (isAbort(err) || !this.latest.current(id)) return;
      this.data = null;
      this.clear();
      this.section.dataset.state = "error";
      showError(this.errorBox, err.message || String(err));
    } finally {
      if (this.latest.current(id)) this.section.setAttribute("aria-busy", "false");
    }
  }

  // Redraws the current answer for a new selection (no request); errors replace the drawing.
  async redraw(draw) {
    if (!this.data) return;
    try {
      await draw(this.data);
    } catch (err) {
      this.clear();
      this.section.dataset.state = "error";
      showError(this.errorBox, err.message || String(err));
    }
  }
}
