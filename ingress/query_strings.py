"""Refuses a query parameter given more than once, on the routes that read their query string.

Starlette keeps the last of repeated values and FastAPI reads that one, so `?limit=%00&limit=5` was answered as
`?limit=5`: the first value was dropped unseen, whatever it held. Which of two values a caller meant is a guess,
so the request is refused with a 400 naming the parameter instead. No route takes a list in its query string.

Every route with a query parameter lists `SINGLE_VALUED` in its `dependencies` (a route without one ignores its
query string, as it ignores any parameter it does not know); the hostile-parameter walk of the OpenAPI document
(`tests/test_hostile_parameters_e2e.py`) fails for a new route that forgets it.
"""

from __future__ import annotations

from fastapi import Depends, Request

from schemas.errors import InvalidRequest


async def refuse_repeated_parameters(request: Request) -> None:
    # Async, so it runs on the event loop rather than in a worker thread.
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise InvalidRequest(f"query parameter {name!r} is given more than once; send it once")
        seen.add(name)


SINGLE_VALUED = Depends(refuse_repeated_parameters)
