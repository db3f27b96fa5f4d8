// Billing: top-ups (request one, history and status), the auto top-up, alert thresholds, the exchange rate.

import { attempt, confirmDialog, h, panel, paisaToBdt, table, tokens, when } from "../ui.js";

function topupForm(api, slot, refresh) {
  const amount = h("input", { name: "amount_bdt", required: true, inputmode: "decimal", placeholder: "250.50", pattern: "[0-9]+(\\.[0-9]{1,2})?" });
  const method = h("select", { name: "method" }, h("option", { value: "invoice" }, "invoice"), h("option", { value: "card" }, "card"));
  const form = h("form", { className: "inline" }, h("label", {}, "Amount (BDT)", amount), h("label", {}, "Method", method),
    h("button", { type: "submit" }, "Top up"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // One key per submitted form: a double click or a retry never buys twice.
    const key = `console-${crypto.randomUUID()}`;
    const done = await attempt(slot, () => api.post("/topups", { amount_bdt: amount.value, method: method.value }, { "Idempotency-Key": key }),
      (t) => `Top-up ${t.id}: ${t.status}, ${tokens(t.tokens)} tokens.`);
    if (done) { form.reset(); await refresh(); }
  });
  return form;
}

function autoTopupForm(api, slot, current, refresh) {
  const threshold = h("input", { type: "number", name: "threshold_tokens", min: 0, required: true, value: current ? current.threshold_tokens : "" });
  const amount = h("input", { name: "amount_bdt", required: true, placeholder: "500", value: current ? (current.amount_paisa / 100).toFixed(2) : "" });
  const method = h("select", { name: "method" }, ["invoice", "card"].map((m) => h("option", { value: m, selected: current && current.method === m }, m)));
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: current ? current.enabled : true });
  const form = h("form", { className: "inline" }, h("label", {}, "When below (tokens)", threshold), h("label", {}, "Add (BDT)", amount),
    h("label", {}, "Method", method), h("label", { className: "row" }, enabled, "enabled"), h("button", { type: "submit" }, "Save auto top-up"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { threshold_tokens: Number(threshold.value), amount_bdt: amount.value, method: method.value, enabled: enabled.checked };
    if (await attempt(slot, () => api.put("/billing/auto-topup", body), "Auto top-up saved.")) await refresh();
  });
  return form;
}

function thresholdForm(api, slot, refresh) {
  const kind = h("select", { name: "kind" }, h("option", { value: "absolute" }, "below N tokens"), h("option", { value: "percent_of_last_topup" }, "below P% of last top-up"));
  const value = h("input", { type: "number", name: "value", min: 0, required: true });
  const form = h("form", { className: "inline" }, h("label", {}, "Alert when", kind), h("label", {}, "N or P", value), h("button", { type: "submit" }, "Add threshold"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = kind.value === "absolute" ? { kind: kind.value, threshold_tokens: Number(value.value) } : { kind: kind.value, percent: Number(value.value) };
    if (await attempt(slot, () => api.post("/billing/alert-thresholds", body), "Threshold added.")) await refresh();
  });
  return form;
}

export async function render(main, { api }) {
  const slot = h("div");
  const body = h("div");
  const refresh = async () => {
    const [balance, topups, alerts] = await Promise.all([api.get("/balance"), api.get("/topups", { limit: 50 }), api.get("/alerts", { limit: 20 })]);
    const rate = balance.rate || {};
    const remove = async (threshold) => {
      if (!(await confirmDialog(`Remove the alert threshold ${threshold.id}?`, "Remove"))) return;
      if (await attempt(slot, () => api.del(`/billing/alert-thresholds/${threshold.id}`), "Threshold removed.") !== undefined) await refresh();
    };
    body.replaceChildren(
      panel("Exchange rate", h("p", {}, `1 BDT = ${rate.tokens_per_bdt || balance.tokens_per_bdt} tokens (${rate.scope || "platform"} rate${rate.effective_at ? `, since ${when(rate.effective_at)}` : ""}).`)),
      panel("Top up", topupForm(api, slot, refresh), table([
        { label: "Top-up", value: (t) => h("code", {}, t.id) },
        { label: "Amount", value: (t) => paisaToBdt(t.amount_paisa), numeric: true },
        { label: "Tokens", value: (t) => tokens(t.tokens), numeric: true },
        { label: "Method", value: (t) => t.method },
        { label: "Status", value: (t) => h("span", { className: `pill ${t.status === "succeeded" ? "ok" : t.status === "failed" ? "bad" : ""}` }, t.status) },
        { label: "Why", value: (t) => t.failure_reason || "" },
        { label: "When", value: (t) => when(t.created_at) },
      ], topups.data, "No top-ups yet.")),
      panel("Auto top-up", autoTopupForm(api, slot, balance.auto_topup, refresh)),
      panel("Alert thresholds", thresholdForm(api, slot, refresh), table([
        { label: "Threshold", value: (t) => t.kind === "absolute" ? `${tokens(t.threshold_tokens)} tokens` : `${t.percent}% of last top-up` },
        { label: "State", value: (t) => (t.armed ? "armed" : "fired (re-arms above it)") },
        { label: "", value: (t) => h("button", { className: "danger", type: "button", onclick: () => remove(t) }, "Remove") },
      ], balance.alert_thresholds || [], "No thresholds.")),
      panel("Recent alerts and top-up events", table([
        { label: "Event", value: (e) => e.type },
        { label: "Detail", value: (e) => h("code", {}, JSON.stringify(e.payload)) },
        { label: "When", value: (e) => when(e.created_at) },
      ], alerts.data, "No events yet.")));
  };
  main.append(slot, body);
  await refresh();
}
