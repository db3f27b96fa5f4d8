// List Files (GET /api/v1/openai/files)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL + "/openai", apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.files.list();
console.log(JSON.stringify(answer.data));  // a page: its items
