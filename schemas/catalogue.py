"""The model catalogue: which provider serves a model, under which upstream name, in which pool, at what price.

Parsed from one TOML file at start-up by every service; a model without a price, an unknown provider or a
fallback to an unknown model is refused here with a message that names the entry.
"""

from __future__ import annotations

import tomllib
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.capabilities import Parameter

ProviderKind = Literal["openai", "anthropic", "gemini", "openai_compatible"]


# The dearest multiplier the catalogue accepts: with the limits below, no priced call can leave a bigint.
MULTIPLIER_MAX = Fraction(1_000_000)
# The largest context or output limit accepted (a billion tokens is far past any model's).
TOKEN_LIMIT_MAX = 1_000_000_000
# Chat-template overhead assumed for a model that names none: above every family's real template.
TEMPLATE_TOKENS_FIXED_DEFAULT = 32
TEMPLATE_TOKENS_PER_MESSAGE_DEFAULT = 8


class CatalogueError(ValueError):
    """The catalogue file is not valid; the message says which entry and why."""


class ProviderEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ProviderKind
    base_url: str = Field(min_length=1)
    api_key_env: str | None = None
    concurrency_max: int = Field(default=64, ge=1, le=10_000)
    timeout_s: float = Field(default=60.0, gt=0, le=600)


@lru_cache(maxsize=1024)
def _fraction(text: str) -> Fraction:
    # Parsing a multiplier costs more than pricing a job with it; Fractions are immutable, so one per text.
    return Fraction(text)


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    provider: str
    upstream: str = Field(min_length=1)
    pool: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$")
    input_multiplier: str
    output_multiplier: str
    max_output_tokens: int = Field(ge=1, le=TOKEN_LIMIT_MAX)
    default_max_tokens: int = Field(ge=1, le=TOKEN_LIMIT_MAX)
    context_tokens: int = Field(ge=1, le=TOKEN_LIMIT_MAX)
    # Tokens the provider's chat template adds to a prompt (special tokens, role headers, a default system
    # header): once per prompt, and once per message. Prompt holds include them, so a hold stays an upper bound.
    template_tokens_fixed: int = Field(default=TEMPLATE_TOKENS_FIXED_DEFAULT, ge=0, le=100_000)
    template_tokens_per_message: int = Field(default=TEMPLATE_TOKENS_PER_MESSAGE_DEFAULT, ge=0, le=10_000)
    aliases: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()
    # OpenAI's reasoning models refuse the deprecated `max_tokens` and need `max_completion_tokens`.
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # Capability flags. `parameters`: the OpenAI parameters this model honours (schemas/capabilities.py names
    # them); unset means its provider kind's defaults. `accepts_images`: image content parts are routed to it.
    parameters: tuple[Parameter, ...] | None = None
    accepts_images: bool = False
    # The most prompt tokens one image can cost on this model (holds count it per image; OpenAI's high detail
    # tops out near 1,500, Anthropic's ~1,600, Gemini's 258 per tile).
    image_input_tokens_max: int = Field(default=2048, ge=0, le=100_000)

    @field_validator("input_multiplier", "output_multiplier")
    @classmethod
    def _exact_rational(cls, value: str) -> str:
        try:
            parsed = Fraction(value)
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"price multiplier {value!r} is not an exact rational such as '1' or '3/2'") from exc
        if parsed < 0:
            raise ValueError("price multipliers cannot be negative")
        if parsed > MULTIPLIER_MAX:
            raise ValueError(f"price multiplier {value!r} is above the maximum of {MULTIPLIER_MAX}")
        return value

    @model_validator(mode="after")
    def _default_within_limit(self) -> ModelEntry:
        if self.default_max_tokens > self.max_output_tokens:
            raise ValueError("default_max_tokens exceeds max_output_tokens")
        return self

    @model_validator(mode="after")
    def _never_free(self) -> ModelEntry:
        # A model priced zero both ways would be held and billed at zero: the catalogue never bills at zero.
        if self.input_price == 0 and self.output_price == 0:
            raise ValueError("both price multipliers are zero; the catalogue never bills at zero")
        return self

    @property
    def input_price(self) -> Fraction:
        return _fraction(self.input_multiplier)

    @property
    def output_price(self) -> Fraction:
        return _fraction(self.output_multiplier)


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    default_model: str
    providers: dict[str, ProviderEntry]
    models: tuple[ModelEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        names: dict[str, str] = {}
        for model in self.models:
            if model.provider not in self.providers:
                raise ValueError(f"model {model.id!r}: unknown provider {model.provider!r}")
            for name in (model.id, *model.aliases):
                if name in names:
                    raise ValueError(f"model name {name!r} is used twice ({names[name]!r} and {model.id!r})")
                names[name] = model.id
        for model in self.models:
            for fallback in model.fallbacks:
                if fallback not in names:
                    raise ValueError(f"model {model.id!r}: fallback {fallback!r} is not in the catalogue")
        if self.default_model not in names:
            raise ValueError(f"default_model {self.default_model!r} is not in the catalogue")
        return self

    def resolve(self, name: str) -> ModelEntry | None:
        """The entry for a model id or alias, or None when the catalogue has no such model."""
        for model in self.models:
            if name == model.id or name in model.aliases:
                return model
        return None

    def model_id_of(self, name: str) -> str:
        """A finance filter's model: an alias read as its model's id; any other name as given (a model no longer
        in the catalogue still has its jobs and entries)."""
        entry = self.resolve(name)
        return entry.id if entry is not None else name

    def get(self, model_id: str) -> ModelEntry:
        entry = self.resolve(model_id)
        assert entry is not None, f"model {model_id} vanished from the catalogue"
        return entry

    def kind_of(self, model: ModelEntry) -> ProviderKind:
        """The wire format of the provider serving `model`."""
        return self.providers[model.provider].kind

    def pools(self) -> set[str]:
        return {model.pool for model in self.models}


def parse_catalogue(text: str) -> Catalogue:
    """Parse catalogue TOML; every problem becomes one CatalogueError naming the entry."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"model catalogue is not valid TOML: {exc}") from exc
    models = raw.get("models", [])
    if not isinstance(models, list) or not all(isinstance(entry, dict) for entry in models):
        raise CatalogueError("model catalogue: `models` must be an array of tables ([[models]])")
    missing_price = [
        str(entry.get("id", f"#{index}"))
        for index, entry in enumerate(models)
        if "input_multiplier" not in entry or "output_multiplier" not in entry
    ]
    if missing_price:
        raise CatalogueError(f"model catalogue: no price for {', '.join(missing_price)}; refusing to bill at zero")
    for index, entry in enumerate(models):
        try:
            ModelEntry.model_validate(entry)
        except ValidationError as exc:
            name = entry.get("id", f"#{index}")
            reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
            raise CatalogueError(f"model catalogue: model {name!r} is invalid: {reasons}") from exc
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise CatalogueError(f"model catalogue is invalid: {exc}") from exc
