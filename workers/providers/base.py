"""The contract every provider adapter keeps, and the provider error tree.

An adapter turns one `ProviderCall` into one HTTP request over an injected `ProviderClient` and maps
the answer to a `ProviderResult`, or raises a `ProviderError` that says whether a retry can help. Adapters
never retry and never sleep: the pool's retry policy is the one layer that does.

    ProviderError                 (retriable decided per instance)
    ├── ProviderRateLimited       429 / quota windows; retriable unless the quota is exhausted for good
    ├── ProviderUnavailable       5xx, 529 overloaded, connection failures; retriable. A 404 for a model the
    │                             catalogue lists is one too, not retriable: the route falls back past it
    ├── ProviderTimeout           no answer within the call's timeout; retriable
    ├── ProviderRejected          4xx the caller caused (bad request, too long, blocked); not retriable
    ├── ProviderAuthFailed        401/403 or an invalid key; not retriable (an operator must fix config); the
    │                             route falls back past it, as past an exhausted quota
    └── ProviderProtocolError     a 2xx body that does not match the wire format (absurd token counts too);
                                  retriable; an answer over the size limit is not
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from schemas.chat_options import ChatOptions, ResultChoice
from schemas.errors import ErrorCode
from schemas.events import PromptMessage
from workers.providers.client import ProviderClient


@dataclass(frozen=True, slots=True)
class ProviderCall:
    upstream_model: str
    messages: tuple[PromptMessage, ...]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    timeout_s: float = 60.0
    # Which request field carries the output bound (OpenAI reasoning models need max_completion_tokens).
    max_tokens_field: str = "max_tokens"
    # Tools, response_format, n, seed, penalties...: translated per wire format (workers/providers/translate_*).
    options: ChatOptions | None = None


@dataclass(frozen=True, slots=True)
class ProviderResult:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None
    upstream_model: str
    request_id: str | None = None
    # True when the provider reported no usage and the adapter counted tokens itself (an upper bound).
    usage_estimated: bool = False
    # Every choice, when the answer has more than `text` and `finish_reason` say (n > 1, tool calls, logprobs).
    choices: tuple[ResultChoice, ...] = ()
    # Details of the counts, shown to callers: prompt tokens read from the provider's cache (part of `input_tokens`;
    # the ledger bills them at the cached-input price) and reasoning tokens (part of `output_tokens`, never billed
    # apart); 0 when the provider did not say.
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    # The backend configuration that answered, as OpenAI names it (wire.fingerprint); None when not given.
    system_fingerprint: str | None = None
    # Adapters keep two promises about a result: `text` holds no NUL (each became U+FFFD), and each count is
    # an integer from 0 to wire.TOKEN_COUNT_MAX; a provider that breaks them raised ProviderProtocolError.


@dataclass(slots=True)
class ProviderError(Exception):
    message: str
    retriable: bool
    status: int | None = None
    code: str = ErrorCode.UPSTREAM_ERROR.value
    retry_after_s: float | None = None
    provider_body: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"{self.code} (status={self.status}, retriable={self.retriable}): {self.message}"


class ProviderRateLimited(ProviderError):
    pass


class ProviderUnavailable(ProviderError):
    pass


class ProviderTimeout(ProviderError):
    pass


class ProviderRejected(ProviderError):
    pass


class ProviderAuthFailed(ProviderError):
    pass


class ProviderProtocolError(ProviderError):
    pass


class ProviderAdapter(Protocol):
    """One provider's wire format. `name` is the provider key from the catalogue."""

    name: str

    async def complete(self, call: ProviderCall) -> ProviderResult: ...


# The default bound on a provider's response body (see WorkerSettings.provider_response_max_bytes).
RESPONSE_MAX_BYTES_DEFAULT = 1_048_576


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    base_url: str
    api_key: str | None
    client: ProviderClient
    # The most of a response body read; an answer cannot be larger than the body that carries it.
    response_max_bytes: int = RESPONSE_MAX_BYTES_DEFAULT
