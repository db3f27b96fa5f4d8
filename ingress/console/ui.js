// Small DOM helpers. Everything is built with createElement and textContent: data from the API is never
// parsed as HTML, so a label or a tag cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    // Through the CSSOM: the page's Content-Security-Policy forbids style attributes, not this.
    else if (name === "style") node.style.cssText = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const integer = new Intl.NumberFormat("en-US");

export function tokens(value) {
  return value === null || value === undefined ? "—" : integer.format(value);
}

export function when(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function paisaToBdt(paisa) {
  if (paisa === null || paisa === undefined) return "—";
  const sign = paisa < 0 ? "-" : "";
  const abs = Math.abs(paisa);
  return `${sign}${integer.format(Math.floor(abs / 100))}.${String(abs % 100).padStart(2, "0")} BDT`;
}

export function card(label, value, note) {
  return h("div", { className: "card" }, h("div", { className: "label" }, label), h("div", { className: "value" }, value),
    note ? h("div", { className: "note" }, note) : null);
}

export function panel(title, ...children) {
  return h("section", { className: "panel", "aria-label": title }, h("h2", {}, title), ...children);
}

// columns: [{ label, value: row => text|Node, numeric? }]
export function table(columns, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p", { className: "muted" }, empty);
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { className: c.numeric ? "num" : "", scope: "col" }, c.label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", { className: c.numeric ? "num" : "" }, c.value(row)))))));
}

export function errorBanner(error) {
  const detail = error && error.requestId ? ` (request ${error.requestId})` : "";
  const text = error && error.message ? error.message : String(error);
  return h("div", { className: "banner error", role: "alert" }, `${text}${detail}`);
}

export function okBanner(text) {
  return h("div", { className: "banner ok", role: "status" }, text);
}

// Runs an action from a button or form, showing its error (or success) in `slot` instead of throwing.
export async function attempt(slot, action, success) {
  slot.replaceChildren();
  try {
    const result = await action();
    if (success) slot.replaceChildren(okBanner(typeof success === "function" ? success(result) : success));
    return result;
  } catch (error) {
    slot.replaceChildren(errorBanner(error));
    return undefined;
  }
}

export function confirmDialog(message, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-label": "Confirm" },
      h("p", {}, message),
      h("div", { className: "row" },
        h("button", { className: "danger", onclick: () => { dialog.close(); resolve(true); } }, confirmLabel),
        h("button", { className: "secondary", onclick: () => { dialog.close(); resolve(false); } }, "Cancel")));
    dialog.addEventListener("close", () => { dialog.remove(); resolve(false); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function secretBox(secret, note) {
  const copy = h("button", { className: "secondary", type: "button" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(secret);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Select and copy";
    }
  });
  return h("div", { className: "banner ok", role: "status" }, h("p", {}, note),
    h("div", { className: "secret" }, h("code", { "data-secret": "" }, secret), copy));
}

export function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function toCsv(columns, rows) {
  const escape = (value) => {
    const text = value === null || value === undefined ? "" : String(value);
    // A leading = + - @ would be read as a formula by spreadsheets: quote it as text.
    const safe = /^[=+\-@]/.test(text) && Number.isNaN(Number(text)) ? `'${text}` : text;
    return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  const lines = [columns.map((c) => escape(c.label)).join(",")];
  for (const row of rows) lines.push(columns.map((c) => escape(c.csv ? c.csv(row) : c.value(row))).join(","));
  return new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" });
}

// Period filter inputs (dates in UTC) that give ISO timestamps for `since` / `until`.
export function periodInputs() {
  const since = h("input", { type: "date", name: "since", "aria-label": "From (UTC)" });
  const until = h("input", { type: "date", name: "until", "aria-label": "Until (UTC, exclusive)" });
  return {
    nodes: [h("label", {}, "From", since), h("label", {}, "Until", until)],
    query() {
      return {
        since: since.value ? `${since.value}T00:00:00Z` : undefined,
        until: until.value ? `${until.value}T00:00:00Z` : undefined,
      };
    },
  };
}
