// A stacked bar chart of spend by day and model, as inline SVG (no chart library, nothing fetched).

import { h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#8ea2ff", "#6fd3e0", "#c69cff", "#8fe3b4", "#ffc98e", "#ff9bb8", "#b8c4dc"];

function s(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// rows: [{ day, model, cost_tokens }], each job in one row only (`/ledger/usage?tags=ignored`): every row is summed.
export function spendChart(rows) {
  const days = [...new Set(rows.map((r) => r.day))].sort();
  const models = [...new Set(rows.map((r) => r.model || "other"))].sort();
  if (!days.length) return h("p", { className: "muted" }, "No spend in this period yet.");
  const totals = new Map(days.map((d) => [d, 0]));
  const cells = new Map();
  for (const row of rows) {
    const key = `${row.day}|${row.model || "other"}`;
    cells.set(key, (cells.get(key) || 0) + row.cost_tokens);
    totals.set(row.day, totals.get(row.day) + row.cost_tokens);
  }
  const max = Math.max(1, ...totals.values());
  const width = 720;
  const height = 220;
  const left = 56;
  const bottom = 24;
  const step = (width - left) / days.length;
  const bar = Math.max(2, Math.min(36, step * 0.7));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": `Spend in tokens by day and model, ${days.length} days` });
  for (const fraction of [0, 0.5, 1]) {
    const y = height - bottom - fraction * (height - bottom - 10);
    svg.append(s("line", { x1: left, x2: width, y1: y, y2: y, stroke: "rgba(255,255,255,0.12)" }));
    svg.append(s("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, Math.round(max * fraction).toLocaleString("en-US")));
  }
  days.forEach((day, index) => {
    let y = height - bottom;
    const x = left + index * step + (step - bar) / 2;
    models.forEach((model, m) => {
      const value = cells.get(`${day}|${model}`) || 0;
      if (!value) return;
      const tall = (value / max) * (height - bottom - 10);
      y -= tall;
      const rect = s("rect", { x, y, width: bar, height: Math.max(tall, 1), rx: 2, fill: COLOURS[m % COLOURS.length] });
      rect.append(s("title", {}, `${day} ${model}: ${value.toLocaleString("en-US")} tokens`));
      svg.append(rect);
    });
    if (days.length <= 16 || index % Math.ceil(days.length / 8) === 0) {
      svg.append(s("text", { x: x + bar / 2, y: height - 6, "text-anchor": "middle" }, day.slice(5)));
    }
  });
  const legend = h("div", { className: "legend" },
    models.map((model, m) => h("span", {}, h("i", { style: `background:${COLOURS[m % COLOURS.length]}` }), model)));
  return h("figure", { className: "figure" }, svg, legend);
}
