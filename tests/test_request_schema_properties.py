"""Properties of the request schema and the ingress body parser: valid requests survive, bad bytes get 400/413."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingress.parsing import parse_chat_request
from schemas.api import MAX_STOP_SEQUENCES, MAX_TAGS, ChatCompletionRequest
from schemas.errors import ErrorCode, InvalidRequest, LuntrexError, PayloadTooLarge

BODY_MAX_BYTES = 64 * 1024
MESSAGES_MAX = 8
ROLES = ("system", "user", "assistant")
TOP_LEVEL_FIELDS = frozenset(ChatCompletionRequest.model_fields)
# The mutation properties build a whole request per example; fewer examples keep this file within a second or two.
fuzz = settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])

# Hypothesis' default text alphabet leaves out lone surrogates, which JSON cannot carry as UTF-8 anyway.
# Free text carries every character but NUL; names, tags and model names no control character at all.
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
labels = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20)
text_parts = st.builds(lambda text: {"type": "text", "text": text}, texts)
contents = st.one_of(texts, st.lists(text_parts, max_size=3))
messages = st.fixed_dictionaries({"role": st.sampled_from(ROLES), "content": contents})
routing_hints = st.fixed_dictionaries(
    {},
    optional={
        "fallbacks": st.lists(labels, max_size=4),
        "provider_timeout_s": st.floats(min_value=0, max_value=600, exclude_min=True),
    },
)
valid_requests = st.fixed_dictionaries(
    {"messages": st.lists(messages, min_size=1, max_size=MESSAGES_MAX)},
    optional={
        "model": labels,
        "max_tokens": st.integers(min_value=1, max_value=2**31),
        "temperature": st.floats(min_value=0, max_value=2),
        "top_p": st.floats(min_value=0, max_value=1, exclude_min=True),
        "stop": st.one_of(st.none(), texts, st.lists(texts, max_size=MAX_STOP_SEQUENCES)),
        "tags": st.lists(labels, max_size=MAX_TAGS),
        "routing": routing_hints,
    },
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def parse(body: bytes, *, body_max_bytes: int = BODY_MAX_BYTES, messages_max: int = MESSAGES_MAX) -> Any:
    return parse_chat_request(body, body_max_bytes=body_max_bytes, messages_max=messages_max)


def assert_parses_or_rejects(body: bytes) -> None:
    """The parser's contract: a model, or a LuntrexError the HTTP layer renders as 400 or 413; nothing else."""
    outcome = outcome_of(body)
    if isinstance(outcome, LuntrexError):
        assert type(outcome) in (InvalidRequest, PayloadTooLarge), type(outcome)
        assert outcome.status in (400, 413)
        assert outcome.message
    else:
        assert isinstance(outcome, ChatCompletionRequest)


def outcome_of(body: bytes) -> ChatCompletionRequest | LuntrexError:
    # Any other exception escapes and fails the test: that is the property.
    try:
        return parse_chat_request(body, body_max_bytes=BODY_MAX_BYTES, messages_max=MESSAGES_MAX)
    except LuntrexError as exc:
        return exc


@given(valid_requests)
def test_a_valid_request_round_trips_through_json_bytes(request: dict[str, Any]) -> None:
    parsed = parse(orjson.dumps(request))

    assert parsed.model_dump(exclude_unset=True) == request
    for message, sent in zip(parsed.messages, request["messages"], strict=True):
        content = sent["content"]
        expected = content if isinstance(content, str) else "".join(part["text"] for part in content)
        assert message.text() == expected


@given(st.binary(max_size=512))
def test_any_bytes_parse_or_are_rejected_with_400_or_413(body: bytes) -> None:
    assert_parses_or_rejects(body)


@fuzz
@given(valid_requests, st.sampled_from(sorted(TOP_LEVEL_FIELDS)), json_values)
def test_a_field_of_any_wrong_type_is_a_400(request: dict[str, Any], field: str, value: Any) -> None:
    request[field] = value

    assert_parses_or_rejects(orjson.dumps(request))


@fuzz
@given(valid_requests, st.data())
def test_a_message_field_of_any_type_is_a_400_or_parses(request: dict[str, Any], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(request["messages"]) - 1))
    field = data.draw(st.sampled_from(["role", "content", "name", "type"]))
    request["messages"][index][field] = data.draw(json_values)

    assert_parses_or_rejects(orjson.dumps(request))


@fuzz
@given(valid_requests, st.integers(min_value=0, max_value=2000), st.data())
def test_deep_nesting_is_a_400(request: dict[str, Any], depth: int, data: st.DataObject) -> None:
    field = data.draw(st.sampled_from([*sorted(TOP_LEVEL_FIELDS), "extra"]))
    body = orjson.dumps(request)[:-1] + b', "' + field.encode() + b'": ' + b"[" * depth + b"]" * depth + b"}"

    assert_parses_or_rejects(body)


LITERALS = [
    b"NaN",
    b"-NaN",
    b"Infinity",
    b"-Infinity",
    b"nan",
    b"inf",
    b"1e400",
    b"-1e400",
    b"1" + b"0" * 400,
    b"-" + b"9" * 30,
    b"18446744073709551616",
    b"1.7976931348623157e309",
    b"0x10",
    b"01",
    b"+1",
    b"1.",
    b".5",
    b"true",
    b"null",
    b'"\\u0000"',
    b'"a\\u0000b"',
    b'"\x00"',
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
]


@pytest.mark.parametrize("literal", LITERALS)
@pytest.mark.parametrize(
    "template",
    [
        b'{"messages": [{"role": "user", "content": "hi"}], "temperature": %s}',
        b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": %s}',
        b'{"messages": [{"role": "user", "content": %s}]}',
        b'{"messages": [{"role": "user", "content": [{"type": "text", "text": %s}]}]}',
        b'{"messages": [{"role": "user", "content": "hi"}], "routing": {"provider_timeout_s": %s}}',
        b'{"messages": [{"role": "user", "content": "hi"}], "tags": [%s]}',
    ],
)
def test_odd_json_literals_are_a_400_or_parse(template: bytes, literal: bytes) -> None:
    assert_parses_or_rejects(template % literal)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_temperatures_are_refused(literal: bytes) -> None:
    body = b'{"messages": [{"role": "user", "content": "hi"}], "temperature": %s}' % literal

    with pytest.raises(InvalidRequest) as caught:
        parse(body)

    assert caught.value.code == ErrorCode.INVALID_JSON


@fuzz
@given(valid_requests, st.binary(min_size=1, max_size=4), st.data())
def test_invalid_utf8_anywhere_is_a_400(request: dict[str, Any], junk: bytes, data: st.DataObject) -> None:
    body = orjson.dumps(request)
    position = data.draw(st.integers(0, len(body)))
    mutated = body[:position] + b"\xff" + junk + body[position:]

    with pytest.raises(InvalidRequest) as caught:
        parse(mutated)

    assert caught.value.status == 400


@fuzz
@given(valid_requests, st.data())
def test_truncated_or_spliced_bodies_are_a_400_or_parse(request: dict[str, Any], data: st.DataObject) -> None:
    body = orjson.dumps(request)
    start = data.draw(st.integers(0, len(body)))
    end = data.draw(st.integers(start, len(body)))
    insert = data.draw(st.sampled_from([b"", b"\x00", b",", b"}", b'"', b"[", b"NaN", b"\\", b"\xc3"]))

    assert_parses_or_rejects(body[:start] + insert + body[end:])


@fuzz
@given(valid_requests, st.text(min_size=1, max_size=30).filter(lambda name: name not in TOP_LEVEL_FIELDS), json_values)
def test_an_unknown_top_level_field_is_refused_by_name(request: dict[str, Any], field: str, value: Any) -> None:
    request[field] = value

    with pytest.raises(InvalidRequest) as caught:
        parse(orjson.dumps(request))

    assert caught.value.status == 400
    assert caught.value.message == f"unknown field '{field}'"


@pytest.mark.parametrize("field", ["functions", "Model"])
def test_common_openai_fields_we_do_not_support_are_refused_by_name(field: str) -> None:
    body = orjson.dumps({"messages": [{"role": "user", "content": "hi"}], field: True})

    with pytest.raises(InvalidRequest, match=f"unknown field '{field}'"):
        parse(body)


@pytest.mark.parametrize("value", ["true", 1, 0, None, [], {}])
def test_stream_is_a_strict_boolean(value: Any) -> None:
    body = orjson.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": value})

    with pytest.raises(InvalidRequest, match="'stream'"):
        parse(body)


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", True), ("n", "2"), ("n", 2.0), ("seed", True), ("logprobs", 1), ("presence_penalty", "0.5")],
)
def test_openai_parameters_are_typed_strictly(field: str, value: object) -> None:
    body = orjson.dumps({"messages": [{"role": "user", "content": "hi"}], field: value})

    with pytest.raises(InvalidRequest, match=f"'{field}'"):
        parse(body)


@fuzz
@given(valid_requests, st.data())
def test_a_role_outside_system_user_assistant_tool_is_refused(request: dict[str, Any], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(request["messages"]) - 1))
    role = data.draw(st.one_of(st.text(max_size=12), st.sampled_from(["Tool", "function", "developer", "User"])))
    if role in (*ROLES, "tool"):  # a tool message is valid with its tool_call_id
        role = f"{role}!"
    request["messages"][index]["role"] = role

    with pytest.raises(InvalidRequest) as caught:
        parse(orjson.dumps(request))

    assert caught.value.status == 400
    assert f"messages.{index}.role" in caught.value.message


@given(st.integers(min_value=1, max_value=MESSAGES_MAX), st.integers(min_value=1, max_value=20))
def test_more_messages_than_the_limit_are_refused(limit: int, over: int) -> None:
    body = orjson.dumps({"messages": [{"role": "user", "content": "hi"}] * (limit + over)})

    with pytest.raises(InvalidRequest) as caught:
        parse(body, messages_max=limit)

    assert caught.value.status == 400
    assert f"too many messages: {limit + over}; the limit is {limit}" == caught.value.message


def test_exactly_the_message_limit_is_accepted() -> None:
    body = orjson.dumps({"messages": [{"role": "user", "content": "hi"}] * MESSAGES_MAX})

    assert len(parse(body).messages) == MESSAGES_MAX


def test_no_messages_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="messages"):
        parse(b'{"messages": []}')


@given(st.binary(min_size=1, max_size=300), st.data())
def test_a_body_over_the_limit_is_a_413_whatever_it_holds(body: bytes, data: st.DataObject) -> None:
    limit = data.draw(st.integers(min_value=0, max_value=len(body) - 1))

    with pytest.raises(PayloadTooLarge) as caught:
        parse(body, body_max_bytes=limit)

    assert caught.value.status == 413
    assert caught.value.code == ErrorCode.PAYLOAD_TOO_LARGE
    assert f"{len(body)} bytes" in caught.value.message


@fuzz
@given(valid_requests)
def test_a_valid_body_of_exactly_the_limit_is_accepted(request: dict[str, Any]) -> None:
    body = orjson.dumps(request)

    assert parse(body, body_max_bytes=len(body)).messages


@pytest.mark.parametrize("body", [b"[]", b"null", b"1", b'"messages"', b"true"])
def test_json_that_is_not_an_object_is_a_400(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        parse(body)


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"\xef\xbb\xbf{}"])
def test_bodies_that_are_not_json_say_so(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(body)

    assert caught.value.code == ErrorCode.INVALID_JSON


@pytest.mark.parametrize("field", ["max_tokens", "temperature", "top_p"])
def test_booleans_are_not_numbers(field: str) -> None:
    body = orjson.dumps({"messages": [{"role": "user", "content": "x"}], field: True})
    with pytest.raises(InvalidRequest, match=field):
        parse_chat_request(body, body_max_bytes=1_000_000, messages_max=10)


@pytest.mark.parametrize("field", ["[", "str", "list[TextPart]", "none"])
def test_an_unknown_field_named_like_a_type_is_still_named(field: str) -> None:
    body = orjson.dumps({"messages": [{"role": "user", "content": "hi"}], field: 1})

    with pytest.raises(InvalidRequest) as caught:
        parse(body)

    assert caught.value.message == f"unknown field '{field}'"
