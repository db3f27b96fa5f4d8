// Usage: debits by day, model, key and tag for a period, grouped as the reader chooses, with CSV export.
//
// The API gives two views of the same debits: per tag (`tags=each`, a job with several tags has one row under each)
// and without tags (`tags=ignored`, each job once). Grouping by day, model or key reads the second, so its totals
// are what was debited; grouping by tag reads the first and says that tag rows may overlap.

import { download, errorBanner, h, panel, periodInputs, table, toCsv, tokens } from "../ui.js";

const GROUPS = { day: "Day", model: "Model", api_key_id: "Key", tag: "Tag" };

export function grouped(rows, by) {
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

// Every job once: the sum of the rows read without tags.
export function total(rows) {
  const sum = { name: "Total", jobs: 0, input_tokens: 0, output_tokens: 0, cost_tokens: 0 };
  for (const row of rows) {
    sum.jobs += row.jobs;
    sum.input_tokens += row.input_tokens;
    sum.output_tokens += row.output_tokens;
    sum.cost_tokens += row.cost_tokens;
  }
  return sum;
}

function note(by, all) {
  if (by !== "tag") return "Debits from the ledger, by UTC day; each job counts once.";
  return `A job with several tags counts once under each of its tags, so these rows may add up to more than was `
    + `debited: ${tokens(all.cost_tokens)} tokens over ${tokens(all.jobs)} jobs in this period. `
    + `"(none)" is the jobs without tags.`;
}

export async function render(main, { api }) {
  const period = periodInputs();
  const groupBy = h("select", { name: "group", "aria-label": "Group by" },
    Object.entries(GROUPS).map(([value, label]) => h("option", { value }, label)));
  const results = h("div");
  const explained = h("p", { className: "muted", "data-usage-note": "" });
  let byTag = [];
  let byJob = [];
  const columns = () => [
    { label: GROUPS[groupBy.value], value: (r) => r.name },
    { label: "Jobs", value: (r) => tokens(r.jobs), csv: (r) => r.jobs, numeric: true },
    { label: "Input tokens", value: (r) => tokens(r.input_tokens), csv: (r) => r.input_tokens, numeric: true },
    { label: "Output tokens", value: (r) => tokens(r.output_tokens), csv: (r) => r.output_tokens, numeric: true },
    { label: "Cost (tokens)", value: (r) => tokens(r.cost_tokens), csv: (r) => r.cost_tokens, numeric: true },
  ];
  const lines = () => grouped(groupBy.value === "tag" ? byTag : byJob, groupBy.value);
  const show = () => {
    explained.textContent = note(groupBy.value, total(byJob));
    results.replaceChildren(table(columns(), lines(), "No usage in this period."));
  };
  const load = async () => {
    results.replaceChildren(h("p", { className: "muted" }, "Loading…"));
    try {
      const query = period.query();
      [byTag, byJob] = await Promise.all([
        api.get("/ledger/usage", { ...query, tags: "each" }).then((answer) => answer.data),
        api.get("/ledger/usage", { ...query, tags: "ignored" }).then((answer) => answer.data),
      ]);
      show();
    } catch (error) {
      results.replaceChildren(errorBanner(error));
    }
  };
  const exportCsv = () => download(`usage-by-${groupBy.value}.csv`, toCsv(columns(), lines()));
  groupBy.addEventListener("change", show);
  const form = h("form", { className: "inline" }, period.nodes, h("label", {}, "Group by", groupBy),
    h("button", { type: "submit" }, "Apply"),
    h("button", { type: "button", className: "secondary", onclick: exportCsv }, "Export CSV"));
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  main.append(panel("Usage", form, explained, results));
  await load();
}
