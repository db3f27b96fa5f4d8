// Workspaces (admin credential): every workspace with its balance; create, grant credit, suspend and resume,
// mint a key for any workspace; list a workspace's keys and edit any key's guardrails (the operator's set becomes
// what is imposed on the key: the workspace's own keys may add to it, never lift it).

import { guardrailSummary, showGuardrails } from "../guardrails.js";
import { attempt, confirmDialog, errorBanner, h, panel, secretBox, table, tokens, when } from "../ui.js";

function keyState(key) {
  if (key.revoked_at) return h("span", { className: "pill bad" }, "revoked");
  if (key.rotated_at) return h("span", { className: "pill" }, `rotated; works until ${when(key.expires_at)}`);
  return h("span", { className: "pill ok" }, "live");
}

export async function render(main, { api }) {
  const slot = h("div");
  const list = h("div");
  const detail = h("div");
  const keyList = h("div");
  const keyDetail = h("div");

  // The workspace's keys, each with its guardrails, edited through the admin API.
  const showKeys = async (id) => {
    let keys;
    try {
      keys = (await api.get(`/admin/workspaces/${encodeURIComponent(id)}/keys`)).data;
    } catch (error) {
      keyList.replaceChildren(errorBanner(error));
      return;
    }
    const guardrailsOf = (key) => showGuardrails({
      api, key, path: `/admin/keys/${encodeURIComponent(key.id)}/guardrails`, detail: keyDetail, slot,
      changed: () => showKeys(id),
    });
    keyList.replaceChildren(table([
      { label: "Name", value: (k) => k.name },
      { label: "Key", value: (k) => h("code", {}, `${k.id} …${k.last4}`) },
      { label: "Scopes", value: (k) => k.scopes.join(", ") },
      { label: "Guardrails", value: (k) => guardrailSummary(k.guardrails) },
      { label: "State", value: keyState },
      { label: "", value: (k) => h("button", { className: "secondary", type: "button", onclick: () => guardrailsOf(k) }, "Guardrails") },
    ], keys, "No keys."));
  };

  const show = async (id) => {
    let workspace;
    try {
      workspace = await api.get(`/admin/workspaces/${encodeURIComponent(id)}`);
    } catch (error) {
      detail.replaceChildren(errorBanner(error));
      return;
    }
    const balance = workspace.balance || {};
    const grant = h("input", { type: "number", name: "tokens", min: 1, required: true, "aria-label": "Tokens to grant" });
    const grantForm = h("form", { className: "inline" }, h("label", {}, "Grant tokens", grant), h("button", { type: "submit" }, "Grant"));
    grantForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const done = await attempt(slot, () => api.post(`/admin/workspaces/${encodeURIComponent(id)}/grants`, { tokens: Number(grant.value), reason: "console grant" }),
        (g) => `Granted ${tokens(g.granted_tokens)} tokens; balance ${tokens(g.balance)}.`);
      if (done) { await show(id); await refresh(); }
    });
    const suspend = async () => {
      const action = workspace.suspended ? "resume" : "suspend";
      if (!workspace.suspended && !(await confirmDialog(`Suspend ${id}? Every key of it is refused until it is resumed.`, "Suspend"))) return;
      if (await attempt(slot, () => api.post(`/admin/workspaces/${encodeURIComponent(id)}/${action}`), `Workspace ${action}d.`)) { await show(id); await refresh(); }
    };
    const mint = async () => {
      const key = await attempt(slot, () => api.post(`/admin/workspaces/${encodeURIComponent(id)}/keys`, { name: "console key", scopes: ["inference"] }));
      if (key) {
        slot.replaceChildren(secretBox(key.key, `A new inference key for ${id}, shown once.`));
        await showKeys(id);
      }
    };
    detail.replaceChildren(panel(`Workspace ${workspace.name} (${id})`,
      h("p", {}, `Balance ${tokens(balance.balance_tokens)} · available ${tokens(balance.available_tokens)} · held ${tokens(balance.held_tokens)} · spent ${tokens(balance.spent_tokens)} · credit line ${tokens(workspace.credit_line_tokens)}`),
      grantForm,
      h("div", { className: "row" },
        h("button", { type: "button", className: workspace.suspended ? "" : "danger", onclick: suspend }, workspace.suspended ? "Resume" : "Suspend"),
        h("button", { type: "button", className: "secondary", onclick: mint }, "Mint an inference key"))),
      panel(`Keys of ${id}`, keyList), keyDetail);
    keyDetail.replaceChildren();
    await showKeys(id);
  };
  const refresh = async () => {
    const page = await api.get("/admin/workspaces", { limit: 500 });
    list.replaceChildren(table([
      { label: "Workspace", value: (w) => h("button", { type: "button", className: "secondary", onclick: () => show(w.id) }, w.id) },
      { label: "Name", value: (w) => w.name },
      { label: "Default model", value: (w) => w.default_model || "—" },
      { label: "State", value: (w) => h("span", { className: `pill ${w.suspended ? "bad" : "ok"}` }, w.suspended ? "suspended" : "active") },
      { label: "Created", value: (w) => when(w.created_at) },
    ], page.data, "No workspaces."));
  };

  const name = h("input", { name: "name", required: true, maxlength: 100 });
  const grant = h("input", { type: "number", name: "grant_tokens", min: 1 });
  const create = h("form", { className: "inline" }, h("label", {}, "Name", name), h("label", {}, "Opening grant (tokens)", grant), h("button", { type: "submit" }, "Create workspace"));
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value, ...(grant.value ? { grant_tokens: Number(grant.value) } : {}) };
    const created = await attempt(slot, () => api.post("/admin/workspaces", body));
    if (created) {
      slot.replaceChildren(secretBox(created.api_key, `Workspace ${created.id} created; its owner key (every scope), shown once:`));
      create.reset();
      await refresh();
    }
  });
  main.append(slot, panel("Create a workspace", create), detail, panel("Workspaces", list));
  await refresh();
}
