// Pure functions over attention maps ({values, row_tokens, col_tokens, ...}); no DOM here.
"use strict";

const attnMath = (() => {
  const SPECIAL = new Set(["[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>", "<unk>", "[UNK]"]);

  function zeros(rows, cols) {
    return Array.from({ length: rows }, () => new Array(cols).fill(0));
  }

  // Element-wise mean (or max) of several equally shaped maps.
  function combine(maps, how) {
    const [rows, cols] = maps[0].shape;
    const out = zeros(rows, cols);
    for (const m of maps) {
      m.values.forEach((row, i) =>
        row.forEach((v, j) => {
          out[i][j] = how === "max" ? Math.max(out[i][j], v) : out[i][j] + v / maps.length;
        })
      );
    }
    return out;
  }

  function matmul(a, b) {
    const out = zeros(a.length, b[0].length);
    for (let i = 0; i < a.length; i++)
      for (let k = 0; k < b.length; k++) {
        const x = a[i][k];
        if (x === 0) continue;
        for (let j = 0; j < b[0].length; j++) out[i][j] += x * b[k][j];
      }
    return out;
  }

  // Attention rollout (Abnar & Zuidema 2020): heads averaged, 0.5 A + 0.5 I, multiplied up to `layer`.
  function rollout(mapsByLayer, layer) {
    let acc = null;
    for (let l = 0; l <= layer; l++) {
      const mean = combine(mapsByLayer[l], "mean");
      const mixed = mean.map((row, i) => row.map((v, j) => 0.5 * v + (i === j ? 0.5 : 0)));
      acc = acc === null ? mixed : matmul(mixed, acc);
    }
    return acc;
  }

  // Group subword pieces into words: WordPiece marks continuations with "##"; SentencePiece marks
  // word starts with "▁", so a piece without it that begins with a letter or digit continues a word.
  function wordGroups(tokens) {
    const sentencePiece = tokens.some((t) => t.startsWith("▁"));
    const continues = (tok, prev) =>
      sentencePiece
        ? !tok.startsWith("▁") && !SPECIAL.has(tok) && !SPECIAL.has(prev) && /^[\p{L}\p{N}]/u.test(tok)
        : tok.startsWith("##");
    const groups = [];
    tokens.forEach((tok, i) => {
      if (i > 0 && continues(tok, tokens[i - 1])) groups[groups.length - 1].push(i);
      else groups.push([i]);
    });
    const labels = groups.map((g) => g.map((i) => tokens[i].replace(/^##/, "").replace(/^▁/, "")).join("") || "▁");
    return { groups, labels };
  }

  // Word-level map: weights summed over the pieces of a key word, averaged over the pieces of a
  // query word, so every row still sums to 1.
  function mergeWords(values, rowTokens, colTokens) {
    const rows = wordGroups(rowTokens);
    const cols = wordGroups(colTokens);
    const merged = rows.groups.map((rg) =>
      cols.groups.map((cg) => rg.reduce((s, i) => s + cg.reduce((t, j) => t + values[i][j], 0), 0) / rg.length)
    );
    return { values: merged, rowTokens: rows.labels, colTokens: cols.labels };
  }

  // Per-head statistics: mean row entropy (nats), mean |query - key| distance in tokens, and the
  // mean attention mass that lands on special tokens.
  function headStats(values, colTokens) {
    let entropy = 0;
    let distance = 0;
    let special = 0;
    values.forEach((row, i) => {
      row.forEach((p, j) => {
        if (p > 0) entropy -= p * Math.log(p);
        distance += p * Math.abs(i - j);
        if (SPECIAL.has(colTokens[j])) special += p;
      });
    });
    const n = values.length;
    return { entropy: entropy / n, distance: distance / n, special: special / n };
  }

  function argmaxRows(values) {
    return values.map((row) => row.reduce((best, v, j) => (v > row[best] ? j : best), 0));
  }

  // Share of rows whose argmax equals the reference's argmax.
  function argmaxAgreement(values, reference) {
    const a = argmaxRows(values);
    const b = argmaxRows(reference);
    return a.filter((j, i) => j === b[i]).length / a.length;
  }

  // The API's f16 and u8 encodings (base64 in `data`) -> rows of numbers in `values`.
  function halfToFloat(h) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
    if (exp === 31) return frac ? NaN : sign * Infinity;
    return sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }

  function decodeMap(map) {
    if (map.values) return map;
    const bytes = Uint8Array.from(atob(map.data), (c) => c.charCodeAt(0));
    const [rows, cols] = map.shape;
    const flat = new Array(rows * cols);
    if (map.dtype === "float16") {
      const view = new DataView(bytes.buffer);
      for (let i = 0; i < flat.length; i++) flat[i] = halfToFloat(view.getUint16(2 * i, true));
    } else {
      for (let i = 0; i < flat.length; i++) flat[i] = map.offset + map.scale * bytes[i];
    }
    const values = Array.from({ length: rows }, (_, r) => flat.slice(r * cols, (r + 1) * cols));
    return { ...map, values, data: undefined };
  }

  return { combine, rollout, mergeWords, wordGroups, headStats, argmaxAgreement, decodeMap, SPECIAL };
})();
