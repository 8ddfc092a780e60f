// The API client: every call returns parsed JSON or throws an ApiError built from the server's
// {detail}. FastAPI's validation errors (detail as a list) become one readable sentence.

export class ApiError extends Error {
  constructor(status, message, detail = null) {
    super(message);
    this.name = "ApiError";
    this.status = status; // HTTP status, 0 when the request never reached the server
    this.detail = detail; // the server's `detail` as sent (string, list or null)
  }
}

function describe(detail, status) {
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((d) => {
        const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return where ? `${where}: ${d.msg}` : String(d.msg ?? d);
      })
      .join("; ");
  }
  return `The server answered HTTP ${status}.`;
}

async function send(path, init) {
  let r;
  try {
    r = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "The server could not be reached.", null);
  }
  let body = null;
  try {
    body = await r.json();
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    body = null;
  }
  if (!r.ok) {
    const detail = body && typeof body === "object" ? body.detail ?? null : null;
    throw new ApiError(r.status, describe(detail, r.status), detail);
  }
  return body;
}

export async function getJSON(path, { signal } = {}) {
  return send(path, { signal });
}

export async function postJSON(path, body, { signal } = {}) {
  return send(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

export async function postForm(path, formData, { signal } = {}) {
  return send(path, { method: "POST", body: formData, signal });
}

// True for the error an aborted (superseded) request throws: callers drop it silently.
export function isAbort(err) {
  return Boolean(err) && err.name === "AbortError";
}

// One request at a time per purpose: starting a new one aborts the previous, whose answer is dropped.
export class Latest {
  constructor() {
    this.controller = null;
    this.id = 0;
  }

  // A fresh {signal, id}; the previous request's signal is aborted.
  next() {
    if (this.controller) this.controller.abort();
    this.controller = new AbortController();
    this.id += 1;
    return { signal: this.controller.signal, id: this.id };
  }

  // Whether `id` is still the newest request.
  current(id) {
    return id === this.id;
  }

  cancel() {
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.id += 1;
  }
}
