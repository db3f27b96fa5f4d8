// Batches: upload a JSONL file (OpenAI batch lines) with a progress bar, live counts, results download, cancel.

import { toError } from "../api.js";
import { attempt, confirmDialog, download, errorBanner, h, panel, table, tokens, when } from "../ui.js";

const POLL_MS = 2000;
const STATES = ["queued", "waiting_for_credit", "waiting_for_limit", "running", "completed", "failed", "cancelled", "expired"];

// fetch() cannot report upload progress; XMLHttpRequest can, and streams the file from disk as it goes.
function upload(api, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `${api.base}/batches`);
    request.setRequestHeader("Authorization", `Bearer ${api.key}`);
    request.setRequestHeader("Content-Type", "application/jsonl");
    request.upload.addEventListener("progress", (event) => { if (event.lengthComputable) onProgress(event.loaded / event.total); });
    request.addEventListener("load", async () => {
      const response = new Response(request.responseText, { status: request.status });
      if (request.status >= 200 && request.status < 300) resolve(JSON.parse(request.responseText));
      else reject(await toError(response));
    });
    request.addEventListener("error", () => reject(new Error("the upload was interrupted")));
    request.send(file);
  });
}

function countsText(batch) {
  return STATES.filter((s) => batch.counts[s]).map((s) => `${s.replaceAll("_", " ")} ${tokens(batch.counts[s])}`).join(" · ") || "—";
}

function finished(batch) {
  return ["completed", "cancelled", "expired", "failed"].includes(batch.status);
}

export async function render(main, { api }) {
  const slot = h("div");
  const list = h("div");
  const detail = h("div");
  let timer = null;
  const stopPolling = () => { if (timer) clearTimeout(timer); timer = null; };
  window.addEventListener("hashchange", stopPolling, { once: true });

  const results = (batch) => attempt(slot, async () => {
    const response = await api.raw("GET", `/batches/${encodeURIComponent(batch.id)}/results`);
    download(`${batch.id}-results.jsonl`, await response.blob());
  }, "Results downloaded.");
  const cancel = async (batch) => {
    if (!(await confirmDialog(`Cancel ${batch.id}? Queued requests are cancelled and their holds released; running ones finish and are billed.`, "Cancel batch"))) return;
    if (await attempt(slot, () => api.post(`/batches/${encodeURIComponent(batch.id)}/cancel`), "Cancel requested.")) await refresh();
  };
  const watch = async (id) => {
    stopPolling();
    try {
      const batch = await api.get(`/batches/${encodeURIComponent(id)}`);
      const done = batch.counts.completed + batch.counts.failed + batch.counts.cancelled + batch.counts.expired;
      detail.replaceChildren(panel(`Batch ${batch.id}`,
        h("p", {}, h("span", { className: "pill" }, batch.status), ` ${countsText(batch)}`),
        h("progress", { max: Math.max(batch.counts.total, 1), value: done, "aria-label": "Requests finished" }),
        h("p", { className: "muted" }, `${tokens(done)} of ${tokens(batch.counts.total)} finished · cost so far ${tokens(batch.cost_tokens)} tokens · window ends ${when(batch.expires_at * 1000)}`),
        batch.invalid_lines ? h("p", {}, `${tokens(batch.invalid_lines)} bad lines: `, batch.errors.slice(0, 5).map((e) => `line ${e.line}: ${e.message}`).join("; ")) : null,
        h("div", { className: "row" },
          h("button", { type: "button", onclick: () => results(batch) }, "Download results"),
          finished(batch) ? null : h("button", { type: "button", className: "danger", onclick: () => cancel(batch) }, "Cancel"))));
      if (!finished(batch) && document.body.contains(detail)) timer = setTimeout(() => watch(id), POLL_MS);
    } catch (error) {
      detail.replaceChildren(errorBanner(error));
    }
  };
  const refresh = async () => {
    const page = await api.get("/batches", { limit: 50 });
    list.replaceChildren(table([
      { label: "Batch", value: (b) => h("button", { type: "button", className: "secondary", onclick: () => watch(b.id) }, b.id) },
      { label: "Status", value: (b) => b.status },
      { label: "Counts", value: countsText },
      { label: "Cost (tokens)", value: (b) => tokens(b.cost_tokens), numeric: true },
      { label: "Created", value: (b) => when(b.created_at * 1000) },
    ], page.data, "No batches yet."));
  };

  const file = h("input", { type: "file", name: "file", accept: ".jsonl,.ndjson,application/jsonl", required: true });
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Upload progress" });
  const form = h("form", { className: "inline" }, h("label", {}, "JSONL file (OpenAI batch lines)", file), h("button", { type: "submit" }, "Upload"), progress);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files.length) return;
    progress.hidden = false;
    const batch = await attempt(slot, () => upload(api, file.files[0], (fraction) => { progress.value = fraction; }),
      (b) => `Batch ${b.id} accepted: ${tokens(b.counts.total)} requests${b.invalid_lines ? `, ${tokens(b.invalid_lines)} bad lines` : ""}.`);
    progress.hidden = true;
    if (batch) { form.reset(); await refresh(); await watch(batch.id); }
  });
  main.append(slot, panel("Upload a batch", form), detail, panel("Batches", list));
  await refresh();
}
