// A key's guardrails: a one-line summary, and the detail that shows them with what its parent imposed and edits
// them as JSON. Shared by the Keys page (a workspace's `manage` key, `/keys/{id}/guardrails`) and the Workspaces
// page (the admin credential, `/admin/keys/{id}/guardrails`): the API checks every rule, and a refusal (a rule
// RE2 cannot compile, a set looser than what is imposed) is shown with its message.

import { attempt, confirmDialog, errorBanner, h, okBanner, panel, tokens } from "./ui.js";

// One line for a guardrail set, as the listings and the detail show it.
export function guardrailSummary(rails) {
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

// Draws `key`'s guardrails into `detail`, read from and saved to `path` (a key's guardrails route). `slot` gets
// the success message; `changed` runs after a save or a removal (to redraw a listing).
export async function showGuardrails({ api, key, path, detail, slot, changed }) {
  let current;
  try {
    current = await api.get(path);
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
      await showGuardrails({ api, key, path, detail, slot, changed });
      await changed();
    };
    const clear = async () => {
      if (!(await confirmDialog(`Remove the guardrails of "${key.name}" (${key.id})?`, "Remove"))) return;
      await saved(await attempt(editSlot, () => api.del(path)));
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
      await saved(await attempt(editSlot, () => api.put(path, body)));
    });
    rows.push(form);
  }
  detail.replaceChildren(panel(`Key ${key.name} (${key.id})`, ...rows));
}
