// Delete File (DELETE /api/v1/openai/files/{file_id})
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL + "/openai", apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.files.delete(process.env.LUNTREX_FILE_ID);
console.log(JSON.stringify(answer));
