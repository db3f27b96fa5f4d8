"""The ingress answers JSON as it always did (orjson bytes, `application/json`) and warns of no deprecated API.

FastAPI 0.165 deprecated its `ORJSONResponse`; the ingress used it for every JSON answer and logged the warning
at WARNING in every process. These tests build the real app and serve requests in-process, without its
Kafka and database lifecycle: the routes used never reach either.
"""

from __future__ import annotations

import warnings

import httpx
import orjson
from fastapi.exceptions import FastAPIDeprecationWarning

from ingress.app import create_app
from ingress.json_response import OrjsonResponse
from ingress.settings import IngressSettings

DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FastAPIDeprecationWarning)


async def _serve(requests: list[tuple[str, str]]) -> list[httpx.Response]:
    app = create_app(IngressSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
        return [await client.request(method, path) for method, path in requests]


async def test_building_and_serving_the_app_warns_of_no_deprecation() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # A route's own answer (the app's default response class) and an error handler's answer.
        answers = await _serve([("GET", "/healthz"), ("GET", "/api/v1/no-such-route")])
    assert [answer.status_code for answer in answers] == [200, 404]
    deprecations = [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, DEPRECATIONS)]
    assert deprecations == []


async def test_answers_keep_their_bytes_and_content_type() -> None:
    healthz, missing = await _serve([("GET", "/healthz"), ("GET", "/api/v1/no-such-route")])
    assert healthz.headers["content-type"] == "application/json"
    assert healthz.content == b'{"status":"ok"}'
    assert missing.headers["content-type"] == "application/json"
    request_id = missing.headers["x-request-id"]
    assert missing.content == (
        b'{"error":"Not Found","status":404,"code":"not_found","request_id":"' + request_id.encode() + b'"}'
    )


def test_bodies_render_as_orjson_did_non_string_keys_and_unicode_included() -> None:
    content = {"text": "বাংলা \u2028 \U0001f600", 7: [1.5, None, True], "nested": {"n": 10**15}}
    expected = orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
    assert OrjsonResponse(content).body == expected
    assert expected.startswith(b'{"text":"\xe0\xa6\xac')
