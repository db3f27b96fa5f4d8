// File Content (GET /api/v1/openai/files/{file_id}/content)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL + "/openai", apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.files.content(process.env.LUNTREX_FILE_ID);
for (const line of (await answer.text()).split("\n")) {
  if (line.trim()) console.log(JSON.stringify(JSON.parse(line)));
}
