// Side by side: every captioner of /api/models on one photo, one card each with its caption (words as buttons
// with their probabilities), its confidence (saying plainly when the model is unsure), whether it names what the
// sample expects, and the selected word's map over the photo. A shared word selector opens the same word on every
// card whose caption has it. One POST /api/attention/image per captioner, all sent at once; each card shows its own
// loading state and its own error. A new run clears every card first; a superseded run's answers are dropped.

import { ApiError, isAbort, postForm } from "../lib/api.js";
import { el, option } from "../lib/dom.js";
import { decodePhoto, drawPhotoMap } from "../lib/overlay.js";
import { confidenceNote, expectNote, probText } from "../lib/caption_notes.js";

const CARD_SIDE = 480; // largest side of a card's canvas in canvas pixels (CSS scales it to the card)
const OPACITY = 0.6;
const FIRST_OBJECT = ""; // shared selector value: each card opens its caption's first object word

// The map a card shows for word `step`: the mean over heads of the layer that points best (the API's
// pointing_layer), else the model's default layer, else the last; the one map of a one-map model.
export function wordMap(response, model, step) {
  const maps = response.maps.filter((m) => m.kind === "spatial" && m.step === step && m.head === null);
  if (maps.length <= 1) return maps[0] || null;
  const layers = maps.map((m) => m.layer);
  const wanted = [response.pointing_layer, model.default_layer].find((l) => l !== null && l !== undefined && layers.includes(l));
  const layer = wanted ?? Math.max(...layers);
  return maps.find((m) => m.layer === layer);
}

function mapName(map) {
  return map.layer === null ? "the decoder's attention" : `cross-attention layer ${map.layer}, mean over heads`;
}

// The step a card opens on: its first known object word, else its first expected word, else the first word.
function firstObject(response, sample) {
  const words = response.output_tokens;
  const objects = new Set([...(response.known_objects || []), ...((sample && sample.expect) || [])]);
  const i = words.findIndex((w) => objects.has(w));
  return i >= 0 ? i : 0;
}

export function createSideBySide({ ui, onStatus }) {
  let cards = [];
  let controller = null;
  let generation = 0;
  let photoUrl = null;
  let draws = 0; // bumped on every card drawing, so tests can wait for one

  function reset() {
    if (controller) controller.abort();
    controller = null;
    generation += 1;
    cards = [];
    ui.cards.replaceChildren();
    ui.word.replaceChildren(option(FIRST_OBJECT, "each caption's first object word"));
    ui.word.disabled = true;
    if (photoUrl) URL.revokeObjectURL(photoUrl);
    photoUrl = null;
  }

  function drawCard(card) {
    const { response, photo } = card;
    const words = response.output_tokens;
    for (const b of card.words.querySelectorAll(".caption-word")) {
      b.setAttribute("aria-pressed", String(b.dataset.step === String(card.step)));
    }
    const map = card.step === null ? null : wordMap(response, card.model, card.step);
    card.canvas.hidden = !map;
    if (!map) {
      card.mapCaption.textContent = words.length === 0
        ? "The caption is empty: there is no word to show a map for."
        : `This caption does not say \u201c${ui.word.value}\u201d.`;
      return;
    }
    const values = map.values;
    const max = Math.max(...values.flat());
    drawPhotoMap(card.canvas, { photo, imageSize: response.image_size, cropBox: response.preprocessing.crop_box,
      values, max, opacity: OPACITY, maxSide: CARD_SIDE });
    card.canvas.dataset.step = String(map.step);
    card.canvas.dataset.drawn = String(++draws);
    card.canvas.setAttribute("aria-label", `${card.model.id}: where it looked while writing \u201c${words[map.step]}\u201d`);
    card.mapCaption.textContent = `\u201c${words[map.step]}\u201d (word ${map.step + 1} of ${words.length}), `
      + `${mapName(map)}. Colours run from 0 to this map's largest patch weight (${max.toFixed(3)}).`;
  }

  function selectWord(card, step) {
    card.step = step;
    drawCard(card);
  }

  // The shared selector: every word of any caption, with how many captions have it.
  function fillWordSelector() {
    const done = cards.filter((c) => c.response);
    const counts = new Map();
    for (const c of done) for (const w of new Set(c.response.output_tokens)) counts.set(w, (counts.get(w) || 0) + 1);
    const keep = ui.word.value;
    ui.word.replaceChildren(option(FIRST_OBJECT, "each caption's first object word"),
      ...[...counts].map(([w, n]) => option(w, `${w} (${n} of ${done.length} captions)`)));
    ui.word.value = counts.has(keep) ? keep : FIRST_OBJECT;
    ui.word.disabled = counts.size === 0;
  }

  function applyWord(card) {
    const word = ui.word.value;
    if (word === FIRST_OBJECT) card.step = card.response.output_tokens.length ? firstObject(card.response, card.sample) : null;
    else {
      const i = card.response.output_tokens.indexOf(word);
      card.step = i >= 0 ? i : null;
    }
  }

  function newCard(model, index) {
    const title = el("h3", { id: `side-title-${index}` }, model.id);
    const status = el("p", { class: "side-status", role: "status" });
    const error = el("div", { class: "error", role: "alert", hidden: true });
    const confidence = el("p", { class: "confidence-note" });
    const label = el("span", { class: "caption-label", id: `side-caption-label-${index}` }, "Caption:");
    const words = el("span", { class: "caption-words", role: "group", "aria-labelledby": `side-caption-label-${index} side-title-${index}` });
    const expected = el("p", { class: "hint side-expect" });
    const canvas = el("canvas", { class: "overlay-canvas side-canvas", width: 320, height: 320 });
    const mapCaption = el("figcaption", {});
    const body = el("div", { class: "side-body", hidden: true }, confidence,
      el("div", { class: "caption-line" }, label, words), expected, el("figure", { class: "side-figure" }, canvas, mapCaption));
    const node = el("article", { class: "side-card", "aria-labelledby": `side-title-${index}`, dataset: { model: model.id, state: "loading" } },
      title, el("p", { class: "hint side-desc" }, model.description), status, error, body);
    return { model, node, status, error, body, confidence, label, words, expected, canvas, mapCaption, response: null, step: null };
  }

  function fail(card, text) {
    card.node.dataset.state = "error";
    card.node.setAttribute("aria-busy", "false");
    card.status.textContent = "";
    card.error.textContent = text;
    card.error.hidden = false;
  }

  function show(card, response, photo, sample) {
    Object.assign(card, { response, photo, sample });
    card.node.dataset.state = "done";
    card.node.setAttribute("aria-busy", "false");
    card.status.textContent = "";
    const note = confidenceNote(response);
    card.node.classList.toggle("unsure", note.unsure === true);
    card.node.dataset.unsure = String(note.unsure);
    card.confidence.textContent = note.text;
    card.confidence.classList.toggle("unsure-note", note.unsure === true);
    card.label.textContent = note.unsure ? "Unsure caption:" : "Caption:";
    const words = response.output_tokens;
    card.words.replaceChildren(...(words.length ? words.map((w, i) => {
      const p = probText(response, i);
      const b = el("button", { type: "button", class: "secondary caption-word", dataset: { step: i, word: w }, "aria-pressed": "false" },
        w, p ? el("span", { class: "word-prob" }, p) : null);
      b.addEventListener("click", () => selectWord(card, i));
      return b;
    }) : [el("em", {}, "(empty)")]));
    card.expected.textContent = expectNote(sample, words, response.known_objects || []);
    card.expected.hidden = !card.expected.textContent;
    card.body.hidden = false;
    fillWordSelector();
    applyWord(card);
    drawCard(card);
  }

  async function runCard(card, source, photo, sample, signal, mine) {
    try {
      const body = new FormData();
      body.append("model", card.model.id);
      body.append("file", source.blob, source.filename);
      const response = await postForm("/api/attention/image", body, { signal });
      if (mine !== generation) return;
      const [H, W] = response.image_size;
      show(card, response, photo && photo.naturalWidth === W && photo.naturalHeight === H ? photo : null, sample);
    } catch (err) {
      if (isAbort(err) || mine !== generation) return;
      fail(card, err instanceof ApiError ? err.message : `This card could not be drawn: ${err.message || err}`);
    }
  }

  // Runs every captioner of `models` (available or not: an unavailable one gets a card saying why) on the
  // photo `source` ({blob, filename}); sample: its GET /api/samples entry or null. Resolves when all answered.
  async function run(models, source, sample) {
    reset();
    const mine = generation;
    controller = new AbortController();
    const { signal } = controller;
    cards = models.map(newCard);
    ui.cards.replaceChildren(...cards.map((c) => c.node));
    ui.section.hidden = false;
    if (!cards.length) {
      onStatus("No captioner is declared on this server.");
      return;
    }
    const [photo, url] = await decodePhoto(source.blob);
    if (mine !== generation) {
      URL.revokeObjectURL(url);
      return;
    }
    photoUrl = url;
    const running = cards.filter((c) => c.model.available);
    for (const c of cards) {
      if (!c.model.available) fail(c, `Not available here: ${c.model.unavailable_reason || "it cannot load"}.`);
      else {
        c.node.setAttribute("aria-busy", "true");
        c.status.textContent = `Running ${c.model.id}\u2026`;
      }
    }
    onStatus(`Running ${running.length} captioner${running.length === 1 ? "" : "s"} on the photo\u2026`);
    await Promise.all(running.map((c) => runCard(c, source, photo, sample, signal, mine)));
    if (mine !== generation) return;
    const ok = cards.filter((c) => c.response).length;
    const unsure = cards.filter((c) => c.node.dataset.unsure === "true").length;
    onStatus(`${ok} of ${cards.length} captioners answered side by side${unsure ? `; ${unsure} unsure` : ""}.`);
  }

  ui.word.addEventListener("change", () => {
    for (const card of cards) {
      if (!card.response) continue;
      applyWord(card);
      drawCard(card);
    }
  });

  function hide() {
    reset();
    ui.section.hidden = true;
  }

  return { run, reset, hide };
}
