// Delete Alert Threshold (DELETE /api/v1/billing/alert-thresholds/{threshold_id})
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.delete(`/billing/alert-thresholds/${process.env.LUNTREX_THRESHOLD_ID}`);
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));
