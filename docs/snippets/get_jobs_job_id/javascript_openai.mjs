// Get Job (GET /api/v1/jobs/{job_id})
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.get(`/jobs/${process.env.LUNTREX_JOB_ID}`);
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));
