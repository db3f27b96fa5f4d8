// Post Alert Threshold (POST /api/v1/billing/alert-thresholds)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/billing/alert-thresholds`, { body: {
  "kind": "absolute",
  "threshold_tokens": 10000
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));
