// What the image page says about a caption, in the single view and on every side-by-side card: its confidence
// (plainly "the model is unsure" when the calibrated threshold says so, rather than asserting the caption), each
// word's probability, and whether it names what a sample expects. Plain strings: callers put them in as text.

// The confidence and the threshold with the fewest decimals (at least 2) that show the threshold as stored (to 4
// decimals: 0.999 must not read "1.00") and tell the two apart (0.349 and 0.35 must not both read "0.35").
function apart(c, t) {
  const stored = Number(t.toFixed(4));
  for (let d = 2; d < 7; d++) {
    if (Number(t.toFixed(d)) === stored && c.toFixed(d) !== t.toFixed(d)) return [c.toFixed(d), t.toFixed(d)];
  }
  return [c.toFixed(6), t.toFixed(6)];
}

// {unsure: true | false | null, text} for an image answer, saying how the caption was decoded when that was a
// beam search. text is "" when the answer has no confidence (vision backbones, Hugging Face captioners, results
// saved before confidences existed).
export function confidenceNote(r) {
  const note = confidenceOnly(r);
  if (!note.text || !Number.isInteger(r.beam) || r.beam < 2) return note;
  return { unsure: note.unsure, text: `${note.text} Decoded by beam search of width ${r.beam} (the caption is the `
    + "likeliest of the hypotheses kept at every step)." };
}

function confidenceOnly(r) {
  if (r.confidence === null || r.confidence === undefined) return { unsure: null, text: "" };
  if (r.output_tokens.length === 0 && !r.unsure) {
    return { unsure: null, text: "The model wrote no caption at all (confidence 0): it found nothing it could name." };
  }
  if (r.unsure_below === null || r.unsure_below === undefined || r.unsure === null || r.unsure === undefined) {
    return { unsure: null, text: `Confidence ${r.confidence.toFixed(2)} (the geometric mean of its words' `
      + "probabilities). No threshold has been calibrated for this model yet, so the page cannot say whether "
      + "that is low: read the caption with care." };
  }
  const [c, t] = apart(r.confidence, r.unsure_below);
  if (r.unsure) {
    const why = r.output_tokens.length === 0 ? "it wrote no words" : "its words are unlikely";
    return { unsure: true, text: `The model is unsure: ${why} (confidence ${c}, below ${t} calibrated on `
      + "held-out validation data) \u2014 this caption may well be wrong." };
  }
  return { unsure: false, text: `Confidence ${c} (the geometric mean of its words' probabilities); this model `
    + `is unsure below ${t}.` };
}

// "p 0.97" for word i, "" when the answer has no word probabilities.
export function probText(r, i) {
  return Array.isArray(r.token_probs) && i < r.token_probs.length ? `p ${r.token_probs[i].toFixed(2)}` : "";
}

// Whether a phrase (one or more words) is among the caption's words.
const says = (tokens, phrase) => ` ${tokens.join(" ")} `.includes(` ${phrase} `);

// One sentence on what a sample expects and what the caption names of it; "" without a sample or expectation.
// sample: {expect, synonyms, kind} from GET /api/samples; known: the model's known_objects (may be empty).
export function expectNote(sample, tokens, known = []) {
  if (!sample || !sample.expect || !sample.expect.length) return "";
  const synonyms = sample.synonyms || [];
  const named = sample.expect.filter((w) => says(tokens, w) || (sample.expect.length === 1 && synonyms.some((s) => says(tokens, s))));
  const wanted = sample.expect.join(", ");
  let text = sample.expect.length === 1
    ? `Expected: ${wanted} \u2014 ${named.length ? "the caption names it" : "the caption does not name it"}.`
    : `Expected: ${wanted} \u2014 the caption names ${named.length} of ${sample.expect.length}${named.length ? ` (${named.join(", ")})` : ""}.`;
  if (known.length) {
    const unknown = sample.expect.filter((w) => !known.includes(w) && !(sample.expect.length === 1 && synonyms.some((s) => known.includes(s))));
    if (unknown.length) text += ` Not among the words this model knows: ${unknown.join(", ")}.`;
  }
  return text;
}
