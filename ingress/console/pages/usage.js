// Usage: debits by day, model, key and tag for a period, grouped as the reader chooses, with CSV export.

import { download, errorBanner, h, panel, periodInputs, table, toCsv, tokens } from "../ui.js";

const GROUPS = { day: "Day", model: "Model", api_key_id: "Key", tag: "Tag" };

function grouped(rows, by) {
  const totals = new Map();
  for (const row of rows) {
    const name = row[by] ?? "(none)";
    const line = totals.get(name) || { name, jobs: 0, input_tokens: 0, output_tokens: 0, cost_tokens: 0 };
    line.jobs += row.jobs;
    line.input_tokens += row.input_tokens;
    line.output_tokens += row.output_tokens;
    line.cost_tokens += row.cost_tokens;
    totals.set(name, line);
  }
  return [...totals.values()].sort((a, b) => (by === "day" ? b.name.localeCompare(a.name) : b.cost_tokens - a.cost_tokens));
}

export async function render(main, { api }) {
  const period = periodInputs();
  const groupBy = h("select", { name: "group", "aria-label": "Group by" },
    Object.entries(GROUPS).map(([value, label]) => h("option", { value }, label)));
  const results = h("div");
  let rows = [];
  const columns = () => [
    { label: GROUPS[groupBy.value], value: (r) => r.name },
    { label: "Jobs", value: (r) => tokens(r.jobs), csv: (r) => r.jobs, numeric: true },
    { label: "Input tokens", value: (r) => tokens(r.input_tokens), csv: (r) => r.input_tokens, numeric: true },
    { label: "Output tokens", value: (r) => tokens(r.output_tokens), csv: (r) => r.output_tokens, numeric: true },
    { label: "Cost (tokens)", value: (r) => tokens(r.cost_tokens), csv: (r) => r.cost_tokens, numeric: true },
  ];
  const show = () => results.replaceChildren(table(columns(), grouped(rows, groupBy.value), "No usage in this period."));
  const load = async () => {
    results.replaceChildren(h("p", { className: "muted" }, "Loading…"));
    try {
      rows = (await api.get("/ledger/usage", period.query())).data;
      show();
    } catch (error) {
      results.replaceChildren(errorBanner(error));
    }
  };
  const exportCsv = () => download(`usage-by-${groupBy.value}.csv`, toCsv(columns(), grouped(rows, groupBy.value)));
  groupBy.addEventListener("change", show);
  const form = h("form", { className: "inline" }, period.nodes, h("label", {}, "Group by", groupBy),
    h("button", { type: "submit" }, "Apply"),
    h("button", { type: "button", className: "secondary", onclick: exportCsv }, "Export CSV"));
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  main.append(panel("Usage", form, h("p", { className: "muted" },
    "Debits from the ledger, by UTC day. A job with several tags counts once under each tag when grouped by tag."), results));
  await load();
}
