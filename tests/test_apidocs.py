"""The committed OpenAPI document and Postman collection match the server's routes."""

from __future__ import annotations

import httpx

from ingress import apidocs
from tests.conftest import Stack


def test_committed_openapi_and_postman_match_the_app() -> None:
    openapi = apidocs.openapi_document()
    assert apidocs.OPENAPI_PATH.read_text() == apidocs.render(openapi), "run: python -m ingress.apidocs"
    assert apidocs.POSTMAN_PATH.read_text() == apidocs.render(apidocs.postman_collection(openapi))


def test_the_document_covers_the_api_page_and_its_auth() -> None:
    openapi = apidocs.openapi_document()
    assert "/api/v1/chat/completions" in openapi["paths"]
    assert openapi["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    answer = openapi["components"]["schemas"]["ChatCompletionResponse"]["properties"]
    assert {"answer", "usage", "balance_left"} <= set(answer)


async def test_the_running_server_serves_the_same_document(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        served = (await client.get(stack.base_url.removesuffix("/api/v1") + "/openapi.json")).json()
    assert apidocs.render(served) == apidocs.OPENAPI_PATH.read_text()
