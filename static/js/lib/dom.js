// DOM helpers shared by every page. Text always goes in as text nodes, never as markup.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// el("p", {class: "hint", dataset: {x: 1}, onclick: fn}, "text", child): attributes are set as
// attributes (or properties for `hidden`, `disabled`, `checked`, `value`), strings become text nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = String(v);
    else if (k === "dataset") for (const [dk, dv] of Object.entries(v)) node.dataset[dk] = String(dv);
    else if (k === "style" && typeof v === "object") Object.assign(node.style, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (["hidden", "disabled", "checked", "value", "selected", "tabIndex"].includes(k)) node[k] = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function option(value, label, disabled = false) {
  const o = el("option", { value: String(value) }, label);
  o.disabled = disabled;
  return o;
}

// The page's error box: shows the message (as text) or hides itself for an empty one.
export function showError(container, message) {
  container.textContent = message || "";
  container.hidden = !message;
}

export function clearError(container) {
  showError(container, "");
}

// Marks a form or region busy: aria-busy for assistive tech (and the CSS spinner), submit buttons
// disabled so one click sends one request.
export function setBusy(container, busy) {
  container.setAttribute("aria-busy", String(Boolean(busy)));
  for (const b of container.querySelectorAll('button[type="submit"], button[data-busy-disable]')) {
    b.disabled = Boolean(busy);
  }
}

// Copies the current address and says so in `status` (or says to copy it by hand).
export async function copyLink(status, extra = "") {
  try {
    await navigator.clipboard.writeText(location.href);
    status.textContent = `Link copied.${extra ? ` ${extra}` : ""}`;
  } catch {
    status.textContent = `Copy the address bar: it holds this view.${extra ? ` ${extra}` : ""}`;
  }
}

// Shows a saved result's permanent link (with the view's parameters, a URLSearchParams) and its delete token,
// says so in the status line, and selects the link for copying. ui: {saved, savedUrl, savedToken, status}.
export function showSaved(ui, saved, view) {
  ui.saved.hidden = false;
  ui.savedUrl.value = new URL(`${saved.url}?${view}`, location.href).href;
  ui.savedToken.textContent = saved.delete_token;
  ui.status.textContent = `Saved: ${ui.savedUrl.value}`;
  ui.savedUrl.focus();
  ui.savedUrl.select();
}
