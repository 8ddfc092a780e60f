// The page's view in the address bar, with the API's own names (`word_level`, `layer`, ...).
// A schema maps each key to {type: "string" | "int" | "bool" | "list", default}; readState returns
// every key (defaults where absent or malformed), writeState replaces the query string.

function parse(raw, spec) {
  if (raw === null) return spec.default ?? (spec.type === "list" ? [] : spec.type === "bool" ? false : null);
  switch (spec.type) {
    case "int": {
      const n = Number(raw);
      return raw !== "" && Number.isInteger(n) ? n : spec.default ?? null;
    }
    case "bool":
      return raw === "1" || raw === "true";
    case "list":
      return raw ? raw.split(",").filter(Boolean) : [];
    default:
      return raw;
  }
}

export function readState(schema, search = location.search) {
  const params = new URLSearchParams(search);
  const out = {};
  for (const [key, spec] of Object.entries(schema)) out[key] = parse(params.get(key), spec);
  return out;
}

// Keys whose value is null, undefined, "" or false are left out; true is written as 1, lists
// comma-joined. The entry is replaced, not pushed: the address always names what is drawn.
export function writeState(state) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) {
    if (value === null || value === undefined || value === "" || value === false) continue;
    if (value === true) params.set(key, "1");
    else if (Array.isArray(value)) params.set(key, value.join(","));
    else params.set(key, String(value));
  }
  const query = params.toString();
  if (query === location.search.slice(1)) return; // unchanged: replaceState is not free with long texts
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}
