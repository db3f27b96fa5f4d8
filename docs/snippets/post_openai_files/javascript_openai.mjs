// Create File (POST /api/v1/openai/files)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/openai/files`);
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));
