"""The ingress's JSON response: bodies rendered by orjson, as `application/json`.

FastAPI 0.165 deprecated its own `ORJSONResponse` and warns on every process's first use. Its advice, to let
FastAPI serialise a route's return value through its response model, does not fit most routes here: they build
a `Response` themselves to set the status, `Location`, `Retry-After` and idempotency headers, and the error
handlers answer outside any route. This class keeps the bytes callers get today without the warning.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """A JSON response rendered by orjson; a `JSONResponse`, so FastAPI documents it as `application/json`."""

    # The options FastAPI's OrjsonResponse used, so no body changes by a byte: non-string dict keys become strings.
    _OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=self._OPTIONS)
