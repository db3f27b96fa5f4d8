// Retrieve Model (GET /api/v1/openai/models/{model_id})
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL + "/openai", apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.models.retrieve(process.env.LUNTREX_MODEL_ID);
console.log(JSON.stringify(answer));
