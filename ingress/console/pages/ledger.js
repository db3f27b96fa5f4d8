// Ledger: journal entries with filters and cursor paging; statements per period with a CSV download.

import { attempt, download, errorBanner, h, panel, periodInputs, table, tokens, when } from "../ui.js";

const KINDS = ["", "grant", "topup", "hold", "debit", "release", "refund", "adjustment", "invoice_paid"];
const PAGE = 50;

function entriesTable(entries) {
  return table([
    { label: "#", value: (e) => e.id, numeric: true },
    { label: "When", value: (e) => when(e.created_at) },
    { label: "Kind", value: (e) => e.kind },
    { label: "Job", value: (e) => (e.job_id ? h("code", {}, e.job_id) : "") },
    { label: "Balance change", value: (e) => tokens(e.balance_delta_tokens), numeric: true },
    { label: "Postings", value: (e) => e.postings.map((p) => `${p.account.split(":").pop()} ${p.amount > 0 ? "+" : ""}${tokens(p.amount)}`).join(" · ") },
  ], entries, "No entries match.");
}

function statementView(statement) {
  const rows = [
    ["Opening balance", statement.opening_balance_tokens],
    ["Top-ups", statement.topups_tokens],
    ["Debits", -statement.debits_tokens],
    ["Refunds", statement.refunds_tokens],
    ["Adjustments", statement.adjustments_tokens],
    ["Other", statement.other_tokens],
    ["Closing balance", statement.closing_balance_tokens],
  ];
  return h("div", {},
    table([{ label: "Line", value: (r) => r[0] }, { label: "Tokens", value: (r) => tokens(r[1]), numeric: true }], rows),
    h("h2", {}, "Debits by model"),
    table([
      { label: "Model", value: (d) => d.model || "(none)" },
      { label: "Entries", value: (d) => tokens(d.entries), numeric: true },
      { label: "Tokens", value: (d) => tokens(d.tokens), numeric: true },
    ], statement.debits_by_model || [], "No debits."));
}

export async function render(main, { api }) {
  const period = periodInputs();
  const kind = h("select", { name: "kind", "aria-label": "Kind" }, KINDS.map((k) => h("option", { value: k }, k || "any kind")));
  const model = h("input", { name: "model", placeholder: "model", maxlength: 128 });
  const tag = h("input", { name: "tag", placeholder: "tag", maxlength: 64 });
  const results = h("div");
  const more = h("button", { type: "button", className: "secondary", hidden: true }, "Older entries");
  let cursor = null;
  let shown = [];
  const load = async (reset) => {
    if (reset) { cursor = null; shown = []; }
    try {
      const page = await api.get("/ledger/entries", { ...period.query(), kind: kind.value, model: model.value, tag: tag.value, cursor, limit: PAGE });
      shown = shown.concat(page.data);
      cursor = page.next_cursor;
      results.replaceChildren(entriesTable(shown));
      more.hidden = !cursor;
    } catch (error) {
      results.replaceChildren(errorBanner(error));
      more.hidden = true;
    }
  };
  more.addEventListener("click", () => load(false));
  const filters = h("form", { className: "inline" }, period.nodes, h("label", {}, "Kind", kind), h("label", {}, "Model", model), h("label", {}, "Tag", tag), h("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (event) => { event.preventDefault(); load(true); });

  const statementPeriod = periodInputs();
  const statementSlot = h("div");
  const statementForm = h("form", { className: "inline" }, statementPeriod.nodes, h("button", { type: "submit" }, "Show statement"),
    h("button", { type: "button", className: "secondary", onclick: () => csv() }, "Download CSV"));
  statementForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const statement = await attempt(statementSlot, () => api.get("/ledger/statement", statementPeriod.query()));
    if (statement) statementSlot.replaceChildren(statementView(statement));
  });
  const csv = () => attempt(statementSlot, async () => {
    const response = await api.raw("GET", "/ledger/statement", { query: { ...statementPeriod.query(), format: "csv" } });
    download("statement.csv", await response.blob());
  }, "Statement downloaded (summary, then every entry with its running balance).");

  main.append(panel("Statement", statementForm, statementSlot), panel("Entries", filters, results, more));
  await load(true);
}
