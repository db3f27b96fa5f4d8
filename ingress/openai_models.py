"""OpenAI's model objects for `GET /api/v1/openai/models` and `GET /api/v1/openai/models/{id}`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from schemas.catalogue import Catalogue, ModelEntry
from schemas.errors import ErrorCode, NotFound


class OpenAIModel(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(BaseModel):
    """OpenAI's error envelope, with our status and request id beside it."""

    error: OpenAIError
    status: int
    request_id: str


def model_object(name: str, model: ModelEntry) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": model.id.split("/", 1)[0]}


def retrieve(catalogue: Catalogue, name: str, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    """One model by id or alias; a model outside the key's `allowed` models is as unknown (OpenAI's 404 for a
    model the key cannot use)."""
    model = catalogue.resolve(name)
    if model is None or (allowed is not None and model.id not in allowed):
        raise NotFound(
            f"The model '{name}' does not exist; GET /api/v1/openai/models lists the models you can use",
            code=ErrorCode.MODEL_NOT_FOUND,
        )
    return model_object(name, model)
