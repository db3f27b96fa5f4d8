// Runs JavaScript snippet modules in order in one Node.js process (`node snippet_runner.mjs < plan.json`):
// the Python runner's twin (tests/snippet_runner.py), same plan, same checks and same answer.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const plan = JSON.parse(readFileSync(0, "utf8"));
const log = console.log;
const results = [];
const dig = (answer, where) => where.split(".").reduce((value, part) => value[part], answer);

for (const step of plan) {
  const printed = [];
  console.log = (...args) => printed.push(args.join(" "));
  try {
    await import(pathToFileURL(step.file).href);
    if (step.json_lines) {
      const lines = printed.join("\n").split("\n").filter((line) => line.trim());
      if (!lines.length) throw new Error("printed no JSON line");
      for (const line of lines) {
        const item = JSON.parse(line);
        if (item === null || typeof item !== "object" || !("custom_id" in item)) {
          throw new Error(`printed a line that is not a batch line: ${line.slice(0, 200)}`);
        }
      }
    }
    const answer = Object.keys(step.captures).length ? JSON.parse(printed.at(-1)) : null;
    for (const [env, where] of Object.entries(step.captures)) {
      process.env[env] = String(dig(answer, where));
    }
    results.push({ file: step.file, error: null });
  } catch (error) {
    results.push({ file: step.file, error: String((error && error.stack) || error).slice(-1500) });
  } finally {
    console.log = log;
  }
}
log(JSON.stringify(results));
