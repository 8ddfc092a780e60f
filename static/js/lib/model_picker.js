// The model <select>: models grouped by task under short names; models that cannot run here sit in
// their own disabled group, and why they cannot run is said in a note beside the picker, never in
// the option label.

import { getJSON } from "./api.js";
import { el } from "./dom.js";

export const TASK_NAMES = {
  encoder: "Encoders",
  decoder: "Decoders",
  translation: "Translation",
  vision: "Vision backbones",
  captioning: "Captioners",
  speech: "Speech",
};

let cached = null;

// Every model of /api/models (fetched once per page).
export async function listModels({ signal } = {}) {
  if (!cached) cached = getJSON("/api/models", { signal });
  try {
    return await cached;
  } catch (err) {
    cached = null;
    throw err;
  }
}

export const shortName = (m) => m.short_name || m.id;

// Fills `select` with the models of `tasks` and `note` (optional) with the reasons some are not
// available; selects `wanted` when it is available, else the first available one. Returns the models.
export async function fillPicker(select, tasks, wanted, note = null) {
  const models = (await listModels()).filter((m) => tasks.includes(m.task));
  const groups = [];
  for (const task of tasks) {
    const ready = models.filter((m) => m.task === task && m.available);
    if (ready.length) {
      groups.push(el("optgroup", { label: TASK_NAMES[task] || task },
        ...ready.map((m) => el("option", { value: m.id, title: m.description }, shortName(m)))));
    }
  }
  const missing = models.filter((m) => !m.available);
  if (missing.length) {
    const group = el("optgroup", { label: "Not available here" },
      ...missing.map((m) => el("option", { value: m.id, disabled: true }, shortName(m))));
    groups.push(group);
  }
  select.replaceChildren(...groups);
  const firstAvailable = models.find((m) => m.available);
  if (wanted && models.some((m) => m.id === wanted && m.available)) select.value = wanted;
  else if (firstAvailable) select.value = firstAvailable.id;
  if (note) {
    note.replaceChildren();
    note.hidden = !missing.length;
    if (missing.length) {
      note.append(el("summary", {}, `${missing.length} model${missing.length === 1 ? "" : "s"} not available here`),
        el("ul", {}, ...missing.map((m) => el("li", {}, el("strong", {}, shortName(m)), `: ${m.unavailable_reason || "cannot load"}`))));
    }
  }
  return models;
}
