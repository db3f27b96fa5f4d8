// Overview: balance, what is held and spent, the rate in force, auto top-up and thresholds, spend by day.

import { spendChart } from "../chart.js";
import { card, errorBanner, h, panel, paisaToBdt, table, tokens, when } from "../ui.js";

const DAYS = 30;

export async function render(main, { api }) {
  const balance = await api.get("/balance");
  const rate = balance.rate || {};
  main.append(h("div", { className: "grid" },
    card("Balance", tokens(balance.balance_tokens), "tokens"),
    card("Available", tokens(balance.available_tokens), `credit line ${tokens(balance.credit_line_tokens)}`),
    card("Held", tokens(balance.held_tokens), "running jobs"),
    card("Spent today", tokens(balance.spent_today_tokens), "UTC"),
    card("Spent this month", tokens(balance.spent_this_month_tokens), `all time ${tokens(balance.spent_tokens)}`),
    card("Rate", rate.tokens_per_bdt ? `${rate.tokens_per_bdt} / BDT` : `${tokens(balance.tokens_per_bdt)} / BDT`,
      rate.scope ? `${rate.scope} rate` : "tokens per BDT")));

  const auto = balance.auto_topup;
  const last = balance.last_topup;
  main.append(panel("Auto top-up and alerts",
    h("p", {}, auto
      ? [h("span", { className: `pill ${auto.enabled ? "ok" : "bad"}` }, auto.enabled ? "on" : "off"), " ",
        `below ${tokens(auto.threshold_tokens)} tokens, add ${paisaToBdt(auto.amount_paisa)} by ${auto.method}; `,
        auto.armed ? "armed" : "fired, re-arms when the balance rises above the threshold"]
      : "No auto top-up set (Billing)."),
    table([
      { label: "Threshold", value: (t) => t.kind === "absolute" ? `${tokens(t.threshold_tokens)} tokens` : `${t.percent}% of last top-up` },
      { label: "State", value: (t) => h("span", { className: `pill ${t.armed ? "ok" : "bad"}` }, t.armed ? "armed" : "fired") },
    ], balance.alert_thresholds || [], "No alert thresholds."),
    h("p", { className: "muted" }, last
      ? `Last top-up: ${paisaToBdt(last.amount_paisa)} (${tokens(last.tokens)} tokens), ${last.status}, ${when(last.created_at)}`
      : "No top-up yet.")));

  const chartPanel = panel(`Spend by day and model (last ${DAYS} days)`, h("p", { className: "muted" }, "Loading…"));
  main.append(chartPanel);
  const since = new Date(Date.now() - DAYS * 86_400_000).toISOString().slice(0, 10) + "T00:00:00Z";
  try {
    // Without tags, so a job with several tags is one job's spend, not one per tag.
    const usage = await api.get("/ledger/usage", { since, tags: "ignored" });
    chartPanel.lastChild.replaceWith(spendChart(usage.data));
  } catch (error) {
    chartPanel.lastChild.replaceWith(errorBanner(error));
  }
}
