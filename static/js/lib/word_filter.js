// A searchable word list ("what this model knows"): typing in the filter box keeps the words that contain the
// text (case-insensitive), the count says "12 of 160", Escape clears the filter. Words go in as text nodes.

import { el } from "./dom.js";

// ui: {input, count, list}; returns {set(words), apply()}.
export function createWordFilter({ input, count, list }) {
  let words = [];

  function apply() {
    const needle = input.value.trim().toLowerCase();
    const shown = needle ? words.filter((w) => w.toLowerCase().includes(needle)) : words;
    list.replaceChildren(...shown.map((w) => el("li", {}, w)));
    count.textContent = needle
      ? `${shown.length} of ${words.length}${shown.length ? "" : `: no known word contains \u201c${input.value.trim()}\u201d`}`
      : `${words.length} of ${words.length}`;
  }

  input.addEventListener("input", apply);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && input.value) {
      e.preventDefault();
      input.value = "";
      apply();
    }
  });

  return {
    set(next) {
      words = [...next];
      apply();
    },
    apply,
  };
}
