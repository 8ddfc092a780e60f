// The model <select> of the text and image pages: filled from /api/models, unavailable models listed
// but disabled with the reason. Labels are set as text.
"use strict";

const modelPicker = (() => {
  function option(value, label, disabled = false) {
    const o = document.createElement("option");
    o.value = String(value);
    o.textContent = label;
    o.disabled = disabled;
    return o;
  }

  // Fills `select` with the models of `tasks`; selects `wanted` when it is available, else the first
  // available one. Returns the listed models.
  async function fill(select, tasks, wanted) {
    const r = await fetch("/api/models");
    if (!r.ok) throw new Error(`Could not list models (HTTP ${r.status}).`);
    const models = (await r.json()).filter((m) => tasks.includes(m.task));
    select.replaceChildren(
      ...models.map((m) =>
        option(m.id, m.available ? m.id : `${m.id} (unavailable: ${m.unavailable_reason})`, !m.available)
      )
    );
    const firstAvailable = models.find((m) => m.available);
    if (wanted && models.some((m) => m.id === wanted && m.available)) select.value = wanted;
    else if (firstAvailable) select.value = firstAvailable.id;
    return models;
  }

  return { fill, option };
})();
