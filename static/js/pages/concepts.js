// /concepts: the attention lecture on live models. This module only wires the panels (static/js/concepts/)
// to the sentence form and the address bar (?text=...); each panel fetches, draws and reports its own errors.

import { $, setBusy } from "../lib/dom.js";
import { readState, writeState } from "../lib/url_state.js";
import {
  bahdanauPanel, bottleneckPanel, decoderPanels, multiheadPanel, saturationPanel, scoresPanel,
} from "../concepts/text_panels.js";
import { permutationPanel, positionalPanel, warmupPanel } from "../concepts/kept_panels.js";
import { captionPanel, vitPanel } from "../concepts/vision_panels.js";

const DEFAULT_TEXT = "In the beginning God created the heavens and the earth.";
const STATE = { text: { type: "string", default: DEFAULT_TEXT } };

const sentencePanels = [bahdanauPanel(), scoresPanel(), multiheadPanel(), decoderPanels(), permutationPanel()];
const fixedPanels = [bottleneckPanel(), saturationPanel(), positionalPanel(), captionPanel(), vitPanel(), warmupPanel()];

let run = 0; // the newest sentence run; an older one finishing late leaves the form alone

async function runSentence(text) {
  const form = $("#concept-form");
  const id = ++run;
  writeState({ text: text === DEFAULT_TEXT ? "" : text });
  setBusy(form, true);
  $("#concept-status").textContent = "Running the models…";
  await Promise.all(sentencePanels.map((p) => p.load(text)));
  if (id !== run) return;
  setBusy(form, false);
  $("#concept-status").textContent = "";
}

const input = $("#concept-text");
input.value = readState(STATE).text.slice(0, 200) || DEFAULT_TEXT;
$("#concept-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (text) runSentence(text);
});

for (const p of fixedPanels) p.load();
runSentence(input.value);
