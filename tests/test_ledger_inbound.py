"""What the ledger refuses before money is touched, and the code each refusal ends its job with."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc

from ledger import inbound
from ledger.refusals import Refused, Stage, refusal_of
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode

JOB: dict[str, Any] = {
    "type": "chat.job.submitted",
    "version": 1,
    "workspace_id": "ws_1",
    "job_id": "job_1",
    "api_key_id": "key_1",
    "model_id": "openai/gpt-4.1-mini",
    "route": ["openai/gpt-4.1-mini"],
    "input_tokens_estimate": 10,
    "params": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 16, "tags": ["eval"]},
}
USAGE: dict[str, Any] = {
    "workspace_id": "ws_1",
    "job_id": "job_1",
    "outcome": "completed",
    "model_id": "openai/gpt-4.1-mini",
    "input_tokens": 10,
    "output_tokens": 5,
    "answer": "ok",
}


def _bytes(document: dict[str, Any], **changes: Any) -> bytes:
    return json.dumps({**document, **changes}).encode()


def test_a_newer_producers_extra_fields_are_read_and_ignored(catalogue: Catalogue) -> None:
    job = inbound.submitted(_bytes(JOB, priority_class="gold", params={**JOB["params"], "seed": 7}), catalogue)
    assert job.job_id == "job_1" and job.params.tags == ("eval",)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"version": 2}, ErrorCode.INTERNAL),
        ({"type": "chat.job.cancelled"}, ErrorCode.INVALID_REQUEST),
        ({"model_id": "gone/model", "route": ["gone/model"]}, ErrorCode.MODEL_NOT_FOUND),
        ({"params": {**JOB["params"], "tags": ["a\x00b"]}}, ErrorCode.INVALID_REQUEST),
        ({"input_tokens_estimate": -1}, ErrorCode.INVALID_REQUEST),
        ({"input_tokens_estimate": 2**63}, ErrorCode.INVALID_REQUEST),
        ({"route": "not a list"}, ErrorCode.INVALID_REQUEST),
    ],
)
def test_a_submission_money_must_not_touch_is_refused_with_its_code(
    catalogue: Catalogue, changes: dict[str, Any], code: ErrorCode
) -> None:
    with pytest.raises(Refused) as refused:
        inbound.submitted(_bytes(JOB, **changes), catalogue)
    assert refused.value.code == code
    assert "\x00" not in refused.value.reason


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"version": 3}, ErrorCode.INTERNAL),
        ({"answer": "x\x00y"}, ErrorCode.UPSTREAM_ERROR),
        ({"outcome": "failed", "error": {"code": "upstream_error", "message": "\x00"}}, ErrorCode.UPSTREAM_ERROR),
        ({"output_tokens": -1}, ErrorCode.UPSTREAM_ERROR),
        ({"input_tokens": 2**63}, ErrorCode.UPSTREAM_ERROR),
        ({"cached_input_tokens": -1}, ErrorCode.UPSTREAM_ERROR),
        ({"reasoning_tokens": 2**63}, ErrorCode.UPSTREAM_ERROR),
        ({"system_fingerprint": "fp\x00"}, ErrorCode.UPSTREAM_ERROR),
        ({"model_id": "gone/model"}, ErrorCode.MODEL_NOT_FOUND),
    ],
)
def test_a_usage_report_money_must_not_touch_is_refused_with_its_code(
    catalogue: Catalogue, changes: dict[str, Any], code: ErrorCode
) -> None:
    with pytest.raises(Refused) as refused:
        inbound.usage(_bytes(USAGE, **changes), catalogue)
    assert refused.value.code == code


@pytest.mark.parametrize("payload", [b"", b"\xff\xfe", b"[1, 2]", b"null"])
def test_what_does_not_decode_is_refused(catalogue: Catalogue, payload: bytes) -> None:
    with pytest.raises(Refused):
        inbound.submitted(payload, catalogue)


def test_unexpected_failures_map_to_a_code_by_stage() -> None:
    data_error = sa_exc.DataError("UPDATE", {}, Exception("invalid byte sequence"))
    assert refusal_of(data_error, Stage.ADMISSION).code == ErrorCode.INVALID_REQUEST
    assert refusal_of(data_error, Stage.SETTLEMENT).code == ErrorCode.UPSTREAM_ERROR
    assert refusal_of(AssertionError("hold > 0"), Stage.ADMISSION).code == ErrorCode.INTERNAL
    assert refusal_of(KeyError("x"), Stage.SETTLEMENT).code == ErrorCode.INTERNAL
