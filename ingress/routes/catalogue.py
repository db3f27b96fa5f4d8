"""`GET /api/v1/models`: the models a caller can name, with aliases, owners and prices."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ingress.auth import Authenticated
from ingress.openapi_document import error_responses
from ingress.services import Services
from schemas.api import ModelInfo, ModelList

router = APIRouter()


@router.get("/api/v1/models", response_model=ModelList, responses=error_responses(401, 403))
async def list_models(request: Request, _principal: Authenticated) -> ModelList:
    services: Services = request.app.state.services
    return ModelList(
        data=[
            ModelInfo(
                id=model.id,
                owned_by=model.id.split("/", 1)[0],
                aliases=list(model.aliases),
                input_multiplier=model.input_multiplier,
                output_multiplier=model.output_multiplier,
                max_output_tokens=model.max_output_tokens,
                context_tokens=model.context_tokens,
            )
            for model in services.catalogue.models
        ]
    )
