// Keys: mint (the secret shown once, with a copy button), list with scopes and limits, rotate with a grace
// window (both keys listed with the old one's end), revoke after a confirmation. A key's detail shows its
// guardrails and what its parent imposed on them, and edits them as JSON (the API checks every rule; a set
// looser than what is imposed is refused with a message naming what it would lift).

import { attempt, confirmDialog, errorBanner, h, okBanner, panel, secretBox, table, tokens, when } from "../ui.js";

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

// One line for a guardrail set, as the listing and the detail show it.
function guardrailSummary(rails) {
  if (!rails) return "none";
  const parts = [];
  if (rails.deny && rails.deny.length) parts.push(`deny: ${rails.deny.map((rule) => rule.name).join(", ")}`);
  if (rails.redact && rails.redact.length) parts.push(`redact: ${rails.redact.join(", ")}`);
  if (rails.allowed_models) parts.push(`models: ${rails.allowed_models.join(", ")}`);
  if (rails.max_prompt_chars) parts.push(`prompt ≤ ${tokens(rails.max_prompt_chars)} chars`);
  if (rails.max_cost_tokens_per_request) parts.push(`cost ≤ ${tokens(rails.max_cost_tokens_per_request)} tokens`);
  if (rails.check_output) parts.push("checks answers");
  return parts.join(" · ") || "none";
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
  const path = (key) => `/keys/${encodeURIComponent(key.id)}/guardrails`;
  const showGuardrails = async (key) => {
    let current;
    try {
      current = await api.get(path(key));
    } catch (error) {
      detail.replaceChildren(errorBanner(error));
      return;
    }
    const editSlot = h("div");
    const rows = [
      h("p", {}, "Guardrails: ", guardrailSummary(current.guardrails)),
      h("p", { className: "muted" }, "Imposed by its parent (the key that minted it, or the operator), which a key cannot lift: ",
        guardrailSummary(current.imposed)),
      h("pre", { className: "snippet", "data-guardrails": "" }, JSON.stringify(current.guardrails, null, 2)),
      editSlot,
    ];
    if (!key.revoked_at) {
      const editor = h("textarea", { name: "guardrails", rows: 10, spellcheck: "false" });
      editor.value = JSON.stringify(current.guardrails || {}, null, 2);
      const form = h("form", {}, h("label", {}, "Guardrails (JSON)", editor),
        h("div", { className: "row" }, h("button", { type: "submit" }, "Save guardrails"),
          current.guardrails ? h("button", { className: "danger", type: "button", onclick: () => clear() }, "Remove guardrails") : null));
      // An answer (the key's new guardrails) redraws the detail and the listing; a refusal stays in editSlot.
      const saved = async (result) => {
        if (!result) return;
        slot.replaceChildren(okBanner(
          `Guardrails of ${key.id} ${result.guardrails ? "saved" : "removed"}; they apply to its next request, on every server.`));
        await showGuardrails(key);
        await refresh();
      };
      const clear = async () => {
        if (!(await confirmDialog(`Remove the guardrails of "${key.name}" (${key.id})?`, "Remove"))) return;
        await saved(await attempt(editSlot, () => api.del(path(key))));
      };
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        let body;
        try {
          body = JSON.parse(editor.value || "null");
        } catch (error) {
          editSlot.replaceChildren(errorBanner({ message: `That is not JSON: ${error.message}` }));
          return;
        }
        await saved(await attempt(editSlot, () => api.put(path(key), body)));
      });
      rows.push(form);
    }
    detail.replaceChildren(panel(`Key ${key.name} (${key.id})`, ...rows));
  };
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
