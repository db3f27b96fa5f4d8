"""How long the OpenAI surface waits for a job, and what it answers when the wait ends first.

The official SDKs turn a 202 into an empty `ChatCompletion`, so this surface never answers one: it waits for
the billed result up to `LUNTREX_OPENAI_WAIT_MAX_S`, cut to just under the client's own read timeout when the
SDK announces it (`X-Stainless-Read-Timeout`), so the client never gives up first and retries blindly.

When the wait ends first the answer is a `408` in OpenAI's error shape, `code: "wait_limit_reached"`, with
the job's id in the error (`job_id`), in `Location` (`/api/v1/jobs/{id}`, where the billed result can be
fetched) and in `X-Luntrex-Job-Id`. openai-python raises `APIStatusError` with `status_code == 408` (its
request-timeout status) and, by default, retries 408s. A retry without an `Idempotency-Key` would be a second
job, so the answer then says `x-should-retry: false`, which the SDK obeys; with an `Idempotency-Key` a retry
waits for the same job again (never a second job or charge), so it says `x-should-retry: true`.

A stream (`stream: true`) starts as soon as the job's credit is held (ingress/streaming.py), so it waits here only
for the hold: when even that does not come within the same wait, it gets the same 408 (`x-should-retry: false`:
a stream takes no `Idempotency-Key`), and the job, which may still be admitted, runs on and is billed once.
"""

from __future__ import annotations

import math

from ingress import openai_shapes
from ingress.json_response import OrjsonResponse
from schemas.errors import ErrorCode

# Answer this long before the client's announced read timeout, so the answer arrives while it still listens.
CLIENT_TIMEOUT_MARGIN_S = 1.0
# Never wait less than this, however short the client's timeout (the job still runs; its id is in the answer).
WAIT_MIN_S = 0.5
WAIT_LIMIT_STATUS = 408


def wait_s(limit_s: float, read_timeout_header: str | None) -> float:
    """The wait for one request: the configured limit, or less when the client says it stops reading earlier."""
    if read_timeout_header is None:
        return limit_s
    try:
        read_timeout_s = float(read_timeout_header)
    except ValueError:
        return limit_s
    if not math.isfinite(read_timeout_s) or read_timeout_s <= 0:
        return limit_s
    return max(WAIT_MIN_S, min(limit_s, read_timeout_s - CLIENT_TIMEOUT_MARGIN_S))


def limit_reached(
    job_id: str, waited_s: float, request_id: str, headers: dict[str, str], *, keyed: bool, streamed: bool = False
) -> OrjsonResponse:
    """The 408 for a job still running (or, `streamed`, not yet held) when the wait ended; it runs on and is
    billed once."""
    if streamed:
        message = (
            f"the streamed job {job_id} did not start within {waited_s:g} s; it keeps running and is billed once: "
            f"fetch its result with GET /api/v1/jobs/{job_id}"
        )
    else:
        message = (
            f"the job {job_id} did not finish within {waited_s:g} s; it keeps running and is billed once: fetch "
            f"its result with GET /api/v1/jobs/{job_id}"
            + ("" if keyed else ", or send an Idempotency-Key so that a retry waits for the same job")
        )
    body = openai_shapes.error_body(message, WAIT_LIMIT_STATUS, ErrorCode.WAIT_LIMIT_REACHED, request_id)
    body["error"]["job_id"] = job_id
    body["job_id"] = job_id
    location = f"/api/v1/jobs/{job_id}"
    return OrjsonResponse(
        body,
        status_code=WAIT_LIMIT_STATUS,
        headers=headers
        | {
            "location": location,
            "x-luntrex-job-id": job_id,
            "x-should-retry": "true" if keyed else "false",
        },
    )
