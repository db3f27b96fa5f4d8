// The console shell: sign-in, navigation and the hash router. The key lives in sessionStorage only (gone
// when the tab closes), is sent as a bearer header, and never appears in a URL.

import { createApi, identify, unknownKey } from "./api.js";
import { errorBanner, h } from "./ui.js";
import * as overview from "./pages/overview.js";
import * as usage from "./pages/usage.js";
import * as keys from "./pages/keys.js";
import * as billing from "./pages/billing.js";
import * as ledger from "./pages/ledger.js";
import * as batches from "./pages/batches.js";
import * as webhooks from "./pages/webhooks.js";
import * as docs from "./pages/docs.js";
import * as workspaces from "./pages/workspaces.js";

const SESSION_KEY = "luntrex.console.session";

const WORKSPACE_PAGES = [
  ["overview", "Overview", overview],
  ["usage", "Usage", usage],
  ["keys", "Keys", keys],
  ["billing", "Billing", billing],
  ["ledger", "Ledger", ledger],
  ["batches", "Batches", batches],
  ["webhooks", "Webhooks", webhooks],
  ["docs", "Docs", docs],
];
const ADMIN_PAGES = [
  ["workspaces", "Workspaces", workspaces],
  ["docs", "Docs", docs],
];

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

function signOut() {
  sessionStorage.removeItem(SESSION_KEY);
  location.hash = "";
  boot();
}

function signInView(root) {
  const input = h("input", { type: "password", name: "key", autocomplete: "off", required: true,
    placeholder: "lx_live_… or the admin credential", "aria-label": "API key" });
  const slot = h("div");
  const form = h("form", { className: "panel signin" },
    h("h1", {}, "Luntrex console"),
    h("p", { className: "muted" }, "Sign in with a workspace API key (you see what its scopes allow) or the operator's admin credential. The key stays in this browser tab only."),
    slot,
    h("label", {}, "Key", input),
    h("p", {}, h("button", { type: "submit" }, "Sign in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    slot.replaceChildren();
    const key = input.value.trim();
    try {
      const who = await identify(key);
      sessionStorage.setItem(SESSION_KEY, JSON.stringify({ key, ...who }));
      location.hash = `#/${who.home}`;
      boot();
    } catch (error) {
      slot.replaceChildren(errorBanner(unknownKey(error)
        ? { message: "That key was not accepted: it is unknown, revoked or expired." } : error));
    }
  });
  root.replaceChildren(h("main", { id: "main", className: "full" }, form));
  root.className = "";
  input.focus();
}

function nav(pages, current, session) {
  return h("nav", { className: "nav", "aria-label": "Console" },
    h("div", { className: "brand" }, "Luntrex ", h("span", {}, "console")),
    pages.map(([id, label]) => h("a", { href: `#/${id}`, "aria-current": id === current ? "page" : null }, label)),
    h("div", { className: "who" },
      session.kind === "admin" ? "Admin credential" : session.workspaceId ? `Workspace ${session.workspaceId}` : "Workspace key",
      h("br"),
      h("button", { className: "secondary", type: "button", onclick: signOut }, "Sign out")));
}

async function route(root, session) {
  const pages = session.kind === "admin" ? ADMIN_PAGES : WORKSPACE_PAGES;
  const wanted = location.hash.replace(/^#\//, "").split("?")[0];
  const [id, label, module] = pages.find(([name]) => name === wanted) || pages[0];
  const main = h("main", { id: "main", tabindex: "-1" }, h("h1", {}, label));
  root.className = "shell";
  root.replaceChildren(nav(pages, id, session), main);
  const started = performance.now();
  try {
    await module.render(main, { api: createApi(session.key), session });
  } catch (error) {
    main.append(errorBanner(error));
  }
  // The first render's time, read by the browser tests (Performance API).
  performance.measure(`console:${id}`, { start: started, end: performance.now() });
  document.title = `${label} · Luntrex console`;
}

export function boot() {
  const root = document.getElementById("app");
  const session = loadSession();
  if (!session || !session.key) {
    signInView(root);
    return;
  }
  route(root, session);
}

window.addEventListener("hashchange", boot);
boot();
