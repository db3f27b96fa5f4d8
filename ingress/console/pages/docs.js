// Docs: the API page's request and response, and copy-ready snippets for every operation of the running
// server's OpenAPI document, in Python (requests), JavaScript (fetch), PHP (Laravel Http) and cURL, filled
// with this server's base URL. The key stays a placeholder: snippets never carry the signed-in key.

import { h, panel } from "../ui.js";

const SEED_REQUEST = {
  model: "openai/gpt-4.1-mini",
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Summarize the benefits of unified AI APIs." },
  ],
  max_tokens: 300,
};
const SEED_RESPONSE = {
  id: "job_…",
  model: "openai/gpt-4.1-mini",
  provider: "openai",
  answer: "Unified AI APIs let you …",
  usage: { input_tokens: 31, output_tokens: 120 },
  cost: 151,
  balance_left: 99849,
};
const LANGUAGES = ["cURL", "Python", "JavaScript", "PHP"];

function exampleOf(schema, spec, depth = 0) {
  if (!schema || depth > 4) return null;
  if (schema.$ref) return exampleOf(spec.components?.schemas?.[schema.$ref.split("/").pop()], spec, depth + 1);
  if (schema.example !== undefined) return schema.example;
  if (schema.default !== undefined) return schema.default;
  if (schema.anyOf) return exampleOf(schema.anyOf.find((s) => s.type !== "null") || schema.anyOf[0], spec, depth + 1);
  if (schema.type === "object" || schema.properties) {
    const out = {};
    for (const name of schema.required || []) out[name] = exampleOf(schema.properties?.[name], spec, depth + 1);
    return out;
  }
  if (schema.type === "array") return [];
  if (schema.type === "integer" || schema.type === "number") return 1;
  if (schema.type === "boolean") return true;
  if (schema.enum) return schema.enum[0];
  return "…";
}

function bodyOf(path, operation, spec) {
  if (path.endsWith("/chat/completions")) return SEED_REQUEST;
  const content = operation.requestBody?.content?.["application/json"];
  return content ? exampleOf(content.schema, spec) : null;
}

// A value written as a literal of each language (strings escaped as each one needs).
function literal(value, language, indent = "") {
  const inner = indent + "    ";
  if (value === null) return { Python: "None", PHP: "null" }[language] || "null";
  if (typeof value === "boolean") return language === "Python" ? (value ? "True" : "False") : String(value);
  if (typeof value === "number") return String(value);
  if (typeof value === "string") {
    return language === "PHP" ? `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'` : JSON.stringify(value);
  }
  const open = language === "PHP" ? "[" : Array.isArray(value) ? "[" : "{";
  const close = language === "PHP" ? "]" : Array.isArray(value) ? "]" : "}";
  const items = Array.isArray(value)
    ? value.map((item) => literal(item, language, inner))
    : Object.entries(value).map(([key, item]) => `${literal(key, language === "JavaScript" ? "JSON" : language)}${language === "PHP" ? " =>" : ":"} ${literal(item, language, inner)}`);
  if (!items.length) return open + close;
  return `${open}\n${items.map((item) => inner + item).join(",\n")}\n${indent}${close}`;
}

export function snippet(language, method, url, body) {
  const upper = method.toUpperCase();
  if (language === "cURL") {
    const json = body === null ? null : JSON.stringify(body);
    return [`curl -X ${upper} '${url}' \\`, `  -H "Authorization: Bearer $LUNTREX_API_KEY"${json ? " \\" : ""}`,
      ...(json ? [`  -H 'Content-Type: application/json' \\`, `  -d '${json.replaceAll("'", "'\\''")}'`] : [])].join("\n");
  }
  if (language === "Python") {
    return ["import os", "import requests", "", `response = requests.${method.toLowerCase()}(`, `    "${url}",`,
      '    headers={"Authorization": f"Bearer {os.environ[\'LUNTREX_API_KEY\']}"},',
      ...(body === null ? [] : [`    json=${literal(body, "Python", "    ")},`]),
      "    timeout=60,", ")", "print(response.status_code, response.text)"].join("\n");
  }
  if (language === "JavaScript") {
    return [`const response = await fetch("${url}", {`, `  method: "${upper}",`,
      "  headers: {", "    Authorization: `Bearer ${process.env.LUNTREX_API_KEY}`,", ...(body === null ? [] : ['    "Content-Type": "application/json",']), "  },",
      ...(body === null ? [] : [`  body: JSON.stringify(${literal(body, "JavaScript", "  ")}),`]), "});", "console.log(response.status, await response.text());"].join("\n");
  }
  return ["use Illuminate\\Support\\Facades\\Http;", "", "$response = Http::withToken(env('LUNTREX_API_KEY'))",
    `    ->${method.toLowerCase()}('${url}'${body === null ? "" : `, ${literal(body, "PHP", "    ")}`});`, "", "echo $response->status(), $response->body();"].join("\n");
}

function snippetBlock(method, url, body) {
  const pre = h("pre", { className: "snippet" });
  const copy = h("button", { className: "secondary", type: "button" }, "Copy");
  const tabs = LANGUAGES.map((language) => h("button", { type: "button", role: "tab", "aria-selected": "false", onclick: () => select(language) }, language));
  function select(language) {
    tabs.forEach((tab) => tab.setAttribute("aria-selected", String(tab.textContent === language)));
    pre.textContent = snippet(language, method, url, body);
  }
  copy.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(pre.textContent); copy.textContent = "Copied"; } catch { copy.textContent = "Select and copy"; }
  });
  select("cURL");
  return h("div", {}, h("div", { className: "tabs", role: "tablist" }, tabs, copy), pre);
}

export async function render(main) {
  const base = location.origin;
  main.append(panel("Chat completions (the API page)",
    h("p", {}, "Send ", h("code", {}, "POST /api/v1/chat/completions"), " with a bearer key; the answer carries the usage, its cost in tokens and the balance left after billing."),
    h("h2", {}, "Request"), h("pre", { className: "snippet" }, JSON.stringify(SEED_REQUEST, null, 2)),
    h("h2", {}, "Response"), h("pre", { className: "snippet" }, JSON.stringify(SEED_RESPONSE, null, 2)),
    snippetBlock("post", `${base}/api/v1/chat/completions`, SEED_REQUEST),
    h("p", {}, "Import every request into Postman: ", h("a", { href: "/console/postman.json", download: "luntrex.postman_collection.json" }, "the Postman collection"),
      " · the full reference: ", h("a", { href: "/docs" }, "OpenAPI (Swagger UI)"), ".")));
  const response = await fetch("/openapi.json");
  const spec = await response.json();
  const operations = [];
  for (const [path, methods] of Object.entries(spec.paths || {})) {
    if (!path.startsWith("/api/v1/") || path.startsWith("/api/v1/admin")) continue;
    for (const [method, operation] of Object.entries(methods)) {
      if (["get", "post", "put", "patch", "delete"].includes(method)) operations.push({ path, method, operation });
    }
  }
  main.append(panel(`Every endpoint (${operations.length}, from the OpenAPI document)`,
    operations.map(({ path, method, operation }) => h("details", {},
      h("summary", {}, h("code", {}, `${method.toUpperCase()} ${path}`), " ", operation.summary || ""),
      snippetBlock(method, base + path, bodyOf(path, operation, spec))))));
}
