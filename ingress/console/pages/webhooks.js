// Webhooks: endpoints (create, enable, delete), secret rotation with an overlap, the delivery log, redeliver.

import { attempt, confirmDialog, errorBanner, h, panel, secretBox, table, when } from "../ui.js";

const EVENT_TYPES = ["job.completed", "job.failed", "batch.completed", "balance.threshold_crossed", "topup.succeeded", "topup.failed"];

function attemptsText(delivery) {
  return delivery.attempts.map((a) => `#${a.attempt} ${a.status_code ?? "—"} ${a.latency_ms} ms${a.error ? ` (${a.error})` : ""}`).join("; ") || "not tried yet";
}

export async function render(main, { api }) {
  const slot = h("div");
  const list = h("div");
  const log = h("div");

  const deliveries = async (endpoint, cursor) => {
    let page;
    try {
      page = await api.get(`/webhooks/${encodeURIComponent(endpoint.id)}/deliveries`, { cursor, limit: 20 });
    } catch (error) {
      log.replaceChildren(errorBanner(error));
      return;
    }
    const redeliver = async (delivery) => {
      const done = await attempt(slot, () => api.post(`/webhooks/deliveries/${delivery.id}/redeliver`), `Delivery ${delivery.id} queued again (same webhook-id).`);
      if (done) await deliveries(endpoint);
    };
    log.replaceChildren(panel(`Deliveries to ${endpoint.url}`,
      table([
        { label: "Event", value: (d) => h("code", {}, d.event_id) },
        { label: "Type", value: (d) => d.type },
        { label: "State", value: (d) => h("span", { className: `pill ${d.state === "delivered" ? "ok" : d.state === "dead" ? "bad" : ""}` }, d.state) },
        { label: "Attempts (status, latency)", value: attemptsText },
        { label: "Next try", value: (d) => d.state === "held" ? "when the endpoint is resumed" : when(d.next_attempt_at) },
        // A pending delivery is already queued; a held one waits for its paused endpoint (a redelivery is a 409).
        { label: "", value: (d) => d.state === "pending" || d.state === "held" ? "" : h("button", { className: "secondary", type: "button", onclick: () => redeliver(d) }, "Redeliver") },
      ], page.data, "No deliveries yet."),
      page.next_cursor ? h("button", { className: "secondary", type: "button", onclick: () => deliveries(endpoint, page.next_cursor) }, "Older deliveries") : null));
  };
  const rotate = async (endpoint) => {
    const grace = prompt(`Rotate the secret of ${endpoint.url}: seconds both secrets sign`, "86400");
    if (grace === null) return;
    const rotated = await attempt(slot, () => api.post(`/webhooks/${encodeURIComponent(endpoint.id)}/rotate-secret`, { grace_s: Number(grace) }));
    if (rotated) slot.replaceChildren(secretBox(rotated.secret, `New signing secret, shown once. Until ${when(rotated.previous_secret_until)} deliveries carry both signatures.`));
  };
  const toggle = async (endpoint) => {
    if (await attempt(slot, () => api.patch(`/webhooks/${encodeURIComponent(endpoint.id)}`, { enabled: !endpoint.enabled }), endpoint.enabled ? "Endpoint paused." : "Endpoint enabled.")) await refresh();
  };
  const remove = async (endpoint) => {
    if (!(await confirmDialog(`Delete the endpoint ${endpoint.url}? Its pending deliveries end dead.`, "Delete"))) return;
    if (await attempt(slot, () => api.del(`/webhooks/${encodeURIComponent(endpoint.id)}`), "Endpoint deleted.")) await refresh();
  };
  const refresh = async () => {
    const endpoints = (await api.get("/webhooks")).data;
    list.replaceChildren(table([
      { label: "URL", value: (e) => h("code", {}, e.url) },
      { label: "Events", value: (e) => e.event_types.join(", ") },
      { label: "State", value: (e) => h("span", { className: `pill ${e.enabled ? "ok" : "bad"}` }, e.enabled ? "enabled" : "paused") },
      { label: "", value: (e) => h("div", { className: "row" },
        h("button", { className: "secondary", type: "button", onclick: () => deliveries(e) }, "Deliveries"),
        h("button", { className: "secondary", type: "button", onclick: () => rotate(e) }, "Rotate secret"),
        h("button", { className: "secondary", type: "button", onclick: () => toggle(e) }, e.enabled ? "Pause" : "Enable"),
        h("button", { className: "danger", type: "button", onclick: () => remove(e) }, "Delete")) },
    ], endpoints, "No endpoints yet."));
  };

  const url = h("input", { type: "url", name: "url", required: true, placeholder: "https://example.com/hooks/luntrex", maxlength: 2048 });
  const boxes = EVENT_TYPES.map((type) => h("input", { type: "checkbox", name: "event_types", value: type, checked: type.startsWith("job.") }));
  const form = h("form", { className: "inline" }, h("label", {}, "URL", url),
    h("fieldset", { className: "row" }, h("legend", { className: "muted" }, "Events"), EVENT_TYPES.map((type, i) => h("label", { className: "row" }, boxes[i], type))),
    h("button", { type: "submit" }, "Add endpoint"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { url: url.value, event_types: boxes.filter((b) => b.checked).map((b) => b.value) };
    const created = await attempt(slot, () => api.post("/webhooks", body));
    if (created) {
      slot.replaceChildren(secretBox(created.secret, "The endpoint's signing secret (Standard Webhooks), shown once: copy it now."));
      form.reset();
      await refresh();
    }
  });
  main.append(slot, panel("Add an endpoint", form), panel("Endpoints", list), log);
  await refresh();
}
