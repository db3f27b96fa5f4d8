"""The OpenAI Chat Completions adapter: `POST {base_url}/chat/completions` with a Bearer key."""

from __future__ import annotations

from workers.providers.base import ProviderCall, ProviderConfig, ProviderResult
from workers.providers.chat_completions import chat_payload, chat_result, raise_for_error
from workers.providers.exchange import post_json, required_api_key, success_object


class OpenAIAdapter:
    """`base_url` ends in `/v1` (e.g. https://api.openai.com/v1)."""

    def __init__(self, config: ProviderConfig) -> None:
        api_key = required_api_key(config, "openai")
        self.name = config.name
        self._config = config
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._headers = {
            "authorization": f"Bearer {api_key}",
            "content-type": "application/json",
        }

    async def complete(self, call: ProviderCall) -> ProviderResult:
        payload = chat_payload(call, call.max_tokens_field, openai_hints=True)
        response = await post_json(self._config, self._url, self._headers, payload, call.timeout_s)
        raise_for_error(response)
        body = success_object(self.name, response)
        return chat_result(self.name, call, response, body, response.headers.get("x-request-id"))
