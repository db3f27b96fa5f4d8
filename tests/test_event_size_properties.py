"""A job's event is never much larger than the request body it came from, so the door can skip measuring it
for any body well under the Kafka record limit; and a job whose event is over the limit is refused (413)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingress import submission
from ingress.keys import Principal
from ingress.openai_shapes import to_chat_request
from ingress.parsing import parse_chat_request
from schemas.catalogue import Catalogue
from schemas.errors import LuntrexError, PayloadTooLarge
from schemas.events import encode

# Everything JSON can carry but NUL (refused at the door) and lone surrogates (not UTF-8).
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200)
names = st.sampled_from(["openai/gpt-4.1-mini", "test/priced", "test/cheap", "test/slow"])
labels = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=64)
parts = st.lists(st.builds(lambda text: {"type": "text", "text": text}, texts), min_size=1, max_size=3)
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": texts | parts}),
    min_size=1,
    max_size=6,
)
requests = st.fixed_dictionaries(
    {"messages": messages},
    optional={
        "model": names,
        "max_tokens": st.integers(1, 32),
        "stop": texts | st.lists(texts, max_size=4),
        "tags": st.lists(labels, max_size=16),
        "routing": st.fixed_dictionaries({"fallbacks": st.lists(names, max_size=4)}),
    },
)
PRINCIPAL = Principal(key_id="0123456789ab", workspace_id="ws_" + "w" * 60, default_model=None)
TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def job_size(body: bytes, catalogue: Catalogue, *, openai: bool) -> int:
    if openai:
        chat = to_chat_request(orjson.loads(body))
    else:
        chat = parse_chat_request(body, body_max_bytes=1 << 30, messages_max=10_000)
    job = submission.build_job(chat, PRINCIPAL, catalogue, job_id=submission.new_job_id(), traceparent=TRACEPARENT)
    return len(encode(job))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(request=requests, pretty=st.booleans(), openai=st.booleans())
def test_the_event_is_at_most_the_body_plus_a_fixed_overhead(
    catalogue: Catalogue, request: dict[str, Any], pretty: bool, openai: bool
) -> None:
    if openai:
        request.setdefault("model", "openai/gpt-4.1-mini")
    body = orjson.dumps(request, option=orjson.OPT_INDENT_2 if pretty else None)
    try:
        size = job_size(body, catalogue, openai=openai)
    except LuntrexError:
        return  # refused before any event exists (prompt over a tiny context, for one)
    assert size <= len(body) + submission.EVENT_OVERHEAD_MAX_BYTES


def test_control_characters_do_not_grow_the_event_beyond_the_body(catalogue: Catalogue) -> None:
    """Each `\\u0001` is six bytes in the body and six in the event: no growth to hide behind a small body."""
    body = orjson.dumps({"messages": [{"role": "user", "content": "\x01" * 100_000}]})
    assert len(body) > 600_000
    assert job_size(body, catalogue, openai=False) <= len(body) + submission.EVENT_OVERHEAD_MAX_BYTES


def test_an_event_over_the_limit_is_payload_too_large(catalogue: Catalogue) -> None:
    body = orjson.dumps({"messages": [{"role": "user", "content": "\x01" * 200_000}]})
    chat = parse_chat_request(body, body_max_bytes=1 << 30, messages_max=10)
    job = submission.build_job(chat, PRINCIPAL, catalogue, job_id="job_x")
    limit_bytes = 1_000_000
    assert submission.may_exceed(len(body), limit_bytes)
    with pytest.raises(PayloadTooLarge, match="job queue takes at most"):
        submission.check_event_size(job, limit_bytes)
    submission.check_event_size(job, 8_388_608)
    assert not submission.may_exceed(len(body), 8_388_608)
