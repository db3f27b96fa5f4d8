// Redeliver (POST /api/v1/webhooks/deliveries/{delivery_id}/redeliver)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/webhooks/deliveries/${process.env.LUNTREX_DELIVERY_ID}/redeliver`);
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));
