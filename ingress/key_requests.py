"""Request bodies of key management and the admin API, with their limits (every field bounded)."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from schemas.guardrails import Guardrails

LABEL_LENGTH_MAX = 100
GRACE_MAX_S = 30 * 86_400
EXPIRY_MAX_S = 3 * 365 * 86_400
MODELS_PER_KEY_MAX = 64


def _printable_label(value: str) -> str:
    # NUL and other control or format characters break logs, terminals and CSV exports: refused outright.
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") for char in value):
        raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Label = Annotated[str, Field(min_length=1, max_length=LABEL_LENGTH_MAX), AfterValidator(_printable_label)]
ModelName = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_printable_label)]
Scope = Literal["inference", "billing", "manage"]
WorkspaceId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{2,62}$")]
PositiveLimit = Annotated[int, Field(strict=True, gt=0, le=1_000_000_000)]
SpendCap = Annotated[int, Field(strict=True, gt=0, le=10**15)]


class KeyAttributes(BaseModel):
    """What a key may do. RPM/TPM limits and spend caps are enforced by the ledger's admission (ledger/limits.py),
    exactly across ingress replicas."""

    model_config = ConfigDict(extra="forbid")
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=3)] | None = None
    expires_in_s: Annotated[float, Field(gt=0, le=EXPIRY_MAX_S)] | None = None
    allowed_models: Annotated[list[ModelName], Field(min_length=1, max_length=MODELS_PER_KEY_MAX)] | None = None
    max_tokens_max: Annotated[int, Field(strict=True, gt=0, le=1_000_000)] | None = None
    rpm_max: PositiveLimit | None = None
    tpm_max: PositiveLimit | None = None
    daily_spend_max_tokens: SpendCap | None = None
    monthly_spend_max_tokens: SpendCap | None = None
    # The key's own guardrails, applied with its workspace's. A key minting (or rotating) a key adds these to the
    # guardrails the new key inherits; the operator's are the key's as given (`ingress/guardrail_policy.py`).
    guardrails: Guardrails | None = None

    @model_validator(mode="after")
    def _scopes_unique(self) -> KeyAttributes:
        if self.scopes is not None and len(set(self.scopes)) != len(self.scopes):
            raise ValueError("scopes must not repeat")
        return self


class NewKey(KeyAttributes):
    name: Label = "api key"


class Rotation(KeyAttributes):
    """Rotate a key: its successor inherits its attributes, narrowed by any given here."""

    grace_s: Annotated[float, Field(ge=0, le=GRACE_MAX_S)] = 3_600
    name: Label | None = None


class NewWorkspace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: WorkspaceId | None = None
    name: Label
    default_model: ModelName | None = None
    credit_line_tokens: Annotated[int, Field(strict=True, ge=0, le=10**15)] = 0
    rpm_max: PositiveLimit | None = None
    tpm_max: PositiveLimit | None = None
    grant_tokens: SpendCap | None = None
    grant_bdt: Annotated[int, Field(strict=True, gt=0, le=10**9)] | None = None
    guardrails: Guardrails | None = None
    # The workspace's first key, returned once; with every scope, so its owner can mint narrower ones.
    with_key: bool = True

    @model_validator(mode="after")
    def _one_grant(self) -> NewWorkspace:
        # As the grants route: one amount, in tokens or in BDT; both would credit their sum.
        if self.grant_tokens is not None and self.grant_bdt is not None:
            raise ValueError("give grant_tokens or grant_bdt, not both")
        return self


class WorkspaceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Label | None = None
    default_model: ModelName | None = None
    credit_line_tokens: Annotated[int, Field(strict=True, ge=0, le=10**15)] | None = None
    rpm_max: PositiveLimit | None = None
    tpm_max: PositiveLimit | None = None
    # Replaces the whole set; null or {} removes every guardrail.
    guardrails: Guardrails | None = None


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tokens: SpendCap | None = None
    bdt: Annotated[int, Field(strict=True, gt=0, le=10**9)] | None = None
    reason: Label | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> Grant:
        if (self.tokens is None) == (self.bdt is None):
            raise ValueError("give exactly one of tokens or bdt")
        return self
