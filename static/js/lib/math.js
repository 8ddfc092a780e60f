// Pure functions over attention maps ({values, row_tokens, col_tokens, shape, ...}); no DOM here.
// `values` is an array of rows (arrays or Float32Arrays) whose rows sum to 1.

export const SPECIAL = new Set(["[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>", "<unk>", "[UNK]"]);

export function zeros(rows, cols) {
  return Array.from({ length: rows }, () => new Float64Array(cols));
}

// Each row divided by its sum (rows summing to 0 stay 0).
export function rowNormalise(values) {
  return values.map((row) => {
    let s = 0;
    for (const v of row) s += v;
    return s > 0 ? row.map((v) => v / s) : row.map(() => 0);
  });
}

// Element-wise mean (or max) of several equally shaped maps.
export function combine(maps, how = "mean") {
  const rows = maps[0].values.length;
  const cols = maps[0].values[0].length;
  const out = zeros(rows, cols);
  const n = maps.length;
  for (const m of maps) {
    for (let i = 0; i < rows; i++) {
      const src = m.values[i];
      const dst = out[i];
      if (how === "max") for (let j = 0; j < cols; j++) dst[j] = Math.max(dst[j], src[j]);
      else for (let j = 0; j < cols; j++) dst[j] += src[j] / n;
    }
  }
  return out;
}

export const headMean = (maps) => combine(maps, "mean");

// Square matrix product on flat row-major Float64Arrays of side n.
function matmulFlat(a, b, n) {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const oi = i * n;
    for (let k = 0; k < n; k++) {
      const x = a[oi + k];
      if (x === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) out[oi + j] += x * b[bk + j];
    }
  }
  return out;
}

// Attention rollout (Abnar & Zuidema 2020) through every layer at once: heads averaged,
// 0.5 A + 0.5 I, multiplied up layer by layer. meansByLayer: per layer, the head-mean rows.
// Returns one array of rows per layer (rollout through that layer).
export function rolloutAll(meansByLayer) {
  const n = meansByLayer[0].length;
  const out = [];
  let acc = null;
  for (const mean of meansByLayer) {
    const mixed = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) mixed[i * n + j] = 0.5 * mean[i][j] + (i === j ? 0.5 : 0);
    acc = acc === null ? mixed : matmulFlat(mixed, acc, n);
    const rows = [];
    for (let i = 0; i < n; i++) rows.push(acc.slice(i * n, (i + 1) * n));
    out.push(rows);
  }
  return out;
}

// Rollout through `layer` from per-layer lists of head maps.
export function rollout(mapsByLayer, layer) {
  return rolloutAll(mapsByLayer.slice(0, layer + 1).map((maps) => headMean(maps)))[layer];
}

// Index of each row's largest value (first one on ties).
export function argmaxRows(values) {
  return values.map((row) => {
    let best = 0;
    for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
    return best;
  });
}

// Share of rows whose argmax equals the reference's argmax.
export function argmaxAgreement(values, reference) {
  const a = argmaxRows(values);
  const b = argmaxRows(reference);
  return a.filter((j, i) => j === b[i]).length / a.length;
}

// Group subword pieces into words: WordPiece marks continuations with "##"; SentencePiece marks
// word starts with "▁", so a piece without it that begins with a letter or digit continues a word.
export function wordGroups(tokens) {
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
export function mergeWords(values, rowTokens, colTokens) {
  const rows = wordGroups(rowTokens);
  const cols = wordGroups(colTokens);
  const merged = rows.groups.map((rg) => {
    const out = new Array(cols.groups.length).fill(0);
    for (const i of rg) {
      const row = values[i];
      cols.groups.forEach((cg, c) => {
        for (const j of cg) out[c] += row[j];
      });
    }
    return out.map((v) => v / rg.length);
  });
  return { values: merged, rowTokens: rows.labels, colTokens: cols.labels };
}

// Per-head statistics: mean row entropy (nats), mean |query - key| distance in tokens, and the
// mean attention mass that lands on special tokens.
export function headStats(values, colTokens) {
  let entropy = 0;
  let distance = 0;
  let special = 0;
  const isSpecial = colTokens.map((t) => SPECIAL.has(t));
  values.forEach((row, i) => {
    for (let j = 0; j < row.length; j++) {
      const p = row[j];
      if (p > 0) entropy -= p * Math.log(p);
      distance += p * Math.abs(i - j);
      if (isSpecial[j]) special += p;
    }
  });
  const n = values.length;
  // Mass on the first token (an attention sink): rows 1..n-1, since row 0 of a causal map can only see itself.
  let first = 0;
  for (let i = n > 1 ? 1 : 0; i < n; i++) first += values[i][0];
  first /= n > 1 ? n - 1 : 1;
  return { entropy: entropy / n, distance: distance / n, special: special / n, first };
}

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

// The API's f16 and u8 encodings (base64 in `data`) -> rows of numbers in `values`.
export function decodeMap(map) {
  if (map.values) return map;
  const bin = atob(map.data);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const [rows, cols] = map.shape;
  const flat = new Float32Array(rows * cols);
  if (map.dtype === "float16") {
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < flat.length; i++) flat[i] = halfToFloat(view.getUint16(2 * i, true));
  } else {
    for (let i = 0; i < flat.length; i++) flat[i] = map.offset + map.scale * bytes[i];
  }
  const values = [];
  for (let r = 0; r < rows; r++) values.push(flat.subarray(r * cols, (r + 1) * cols));
  return { ...map, values, data: undefined };
}

// Largest absolute value of a map.
export function maxAbs(values) {
  let m = 0;
  for (const row of values) for (const v of row) m = Math.max(m, Math.abs(v));
  return m;
}
