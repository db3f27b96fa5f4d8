// Keys: mint (the secret shown once, with a copy button), list with scopes and limits, rotate with a grace
// window (both keys listed with the old one's end), revoke after a confirmation. A key's detail shows its
// guardrails and what its parent imposed on them, and edits them as JSON (../guardrails.js: the API checks every
// rule; a set looser than what is imposed is refused with a message naming what it would lift).

import { guardrailSummary, showGuardrails as drawGuardrails } from "../guardrails.js";
import { attempt, confirmDialog, h, panel, secretBox, table, tokens, when } from "../ui.js";

const SCOPES = ["inference", "billing", "manage"];

function limits(key) {
  const parts = [];
  if (key.rpm_max) parts.push(`${tokens(key.rpm_max)} rpm`);
  if (key.tpm_max) parts.push(`${tokens(key.tpm_max)} tpm`);
  if (key.max_tokens_max) parts.push(`max_tokens ≤ ${tokens(key.max_tokens_max)}`);
  if (key.daily_spend_max_tokens) parts.push(`${tokens(key.daily_spend_max_tokens)}/day`);
  if (key.monthly_spend_max_tokens) parts.push(`${tokens(key.monthly_spend_max_tokens)}/month`);
  if (key.allowed_models) parts.push(`models: ${key.allowed_models.join(", ")}`);
  return parts.join(" · ") || "—";
}

function state(key) {
  if (key.revoked_at) return h("span", { className: "pill bad" }, "revoked");
  if (key.rotated_at) return h("span", { className: "pill" }, `rotated; works until ${when(key.expires_at)}`);
  if (key.expires_at) return h("span", { className: "pill ok" }, `live until ${when(key.expires_at)}`);
  return h("span", { className: "pill ok" }, "live");
}

function numberOrUndefined(input) {
  return input.value === "" ? undefined : Number(input.value);
}

export async function render(main, { api }) {
  const slot = h("div");
  const list = h("div");
  const detail = h("div");
  const showGuardrails = (key) => drawGuardrails({
    api, key, path: `/keys/${encodeURIComponent(key.id)}/guardrails`, detail, slot, changed: () => refresh(),
  });
  const refresh = async () => {
    const keys = (await api.get("/keys")).data;
    list.replaceChildren(table([
      { label: "Name", value: (k) => k.name },
      { label: "Key", value: (k) => h("code", {}, `${k.id} …${k.last4}`) },
      { label: "Scopes", value: (k) => k.scopes.join(", ") },
      { label: "Limits", value: limits },
      { label: "Guardrails", value: (k) => guardrailSummary(k.guardrails) },
      { label: "State", value: state },
      { label: "Created", value: (k) => when(k.created_at) },
      { label: "", value: (k) => h("div", { className: "row" },
        h("button", { className: "secondary", type: "button", onclick: () => showGuardrails(k) }, "Guardrails"),
        k.revoked_at || k.rotated_at ? null : h("button", { className: "secondary", type: "button", onclick: () => rotate(k) }, "Rotate"),
        k.revoked_at ? null : h("button", { className: "danger", type: "button", onclick: () => revoke(k) }, "Revoke")) },
    ], keys, "No keys."));
  };
  const rotate = async (key) => {
    const grace = prompt(`Rotate "${key.name}": seconds the old key keeps working`, "3600");
    if (grace === null) return;
    const rotated = await attempt(slot, () => api.post(`/keys/${encodeURIComponent(key.id)}/rotate`, { grace_s: Number(grace) }));
    if (rotated) {
      slot.replaceChildren(secretBox(rotated.key || rotated.api_key, "The new key, shown once: copy it now. The old key keeps working until its grace window ends."));
      await refresh();
    }
  };
  const revoke = async (key) => {
    if (!(await confirmDialog(`Revoke "${key.name}" (${key.id})? Requests with it are refused at once, on every server.`, "Revoke"))) return;
    const done = await attempt(slot, () => api.del(`/keys/${encodeURIComponent(key.id)}`), `Key ${key.id} revoked.`);
    if (done !== undefined) await refresh();
  };

  const name = h("input", { name: "name", required: true, maxlength: 100 });
  const scopeBoxes = SCOPES.map((scope) => h("input", { type: "checkbox", name: "scope", value: scope, checked: scope === "inference" }));
  const rpm = h("input", { type: "number", name: "rpm_max", min: 1 });
  const daily = h("input", { type: "number", name: "daily_spend_max_tokens", min: 1 });
  const form = h("form", { className: "inline" },
    h("label", {}, "Name", name),
    h("fieldset", { className: "row" }, h("legend", { className: "muted" }, "Scopes"),
      SCOPES.map((scope, i) => h("label", { className: "row" }, scopeBoxes[i], scope))),
    h("label", {}, "RPM limit", rpm),
    h("label", {}, "Daily spend cap (tokens)", daily),
    h("button", { type: "submit" }, "Mint key"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value, scopes: scopeBoxes.filter((b) => b.checked).map((b) => b.value),
      rpm_max: numberOrUndefined(rpm), daily_spend_max_tokens: numberOrUndefined(daily) };
    const minted = await attempt(slot, () => api.post("/keys", body));
    if (minted) {
      slot.replaceChildren(secretBox(minted.key, "Your new key, shown once: copy it now; it cannot be shown again."));
      form.reset();
      await refresh();
    }
  });
  main.append(slot, panel("Mint a key", form), detail, panel("Keys", list));
  await refresh();
}
