"""Integers beyond what orjson reads exactly are found and named by their path; everything else passes untouched."""

from __future__ import annotations

import json

import orjson
import pytest

from schemas.json_integers import (
    INTEGER_MAX,
    INTEGER_MIN,
    IntegerOutOfRange,
    WideInteger,
    find_wide_integer,
    loads_exact,
    may_hold_wide_integer,
    refuse_wide_integers,
    wide_integer_refused,
)

SCHEMA_PATH = "tools.0.function.parameters.properties.n.maximum"


def chat_body(maximum: int) -> bytes:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": maximum}}}
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "count", "parameters": schema}}],
    }
    return json.dumps(body).encode()


def test_the_range_is_what_orjson_reads_exactly() -> None:
    for value in (INTEGER_MIN, INTEGER_MAX):
        assert orjson.loads(str(value).encode()) == value and type(orjson.loads(str(value).encode())) is int
    for value in (INTEGER_MIN - 1, INTEGER_MAX + 1):
        assert type(orjson.loads(str(value).encode())) is float, "orjson changed: revisit schemas/json_integers.py"


@pytest.mark.parametrize("value", [INTEGER_MAX, INTEGER_MIN, 0, -1, 10**18, 2**63, -(2**63) + 1])
def test_integers_inside_the_range_are_accepted_exactly(value: int) -> None:
    body = chat_body(value)

    refuse_wide_integers(body, orjson.loads(body))

    assert orjson.loads(body)["tools"][0]["function"]["parameters"]["properties"]["n"]["maximum"] == value
    assert loads_exact(body) == orjson.loads(body)


@pytest.mark.parametrize("value", [INTEGER_MAX + 1, INTEGER_MIN - 1, 2**70 + 1, -(2**70), 10**39])
def test_an_integer_outside_the_range_is_refused_naming_its_path_and_value(value: int) -> None:
    body = chat_body(value)
    with pytest.raises(IntegerOutOfRange) as caught:
        refuse_wide_integers(body, orjson.loads(body))

    assert caught.value.path == SCHEMA_PATH
    assert str(caught.value) == f"'{SCHEMA_PATH}': integer {value} is outside the 64-bit range this API accepts"


def test_the_first_one_in_document_order_is_named() -> None:
    raw = b'{"a": [1, {"b": 18446744073709551616}], "c": -9223372036854775809}'

    with pytest.raises(IntegerOutOfRange) as caught:
        refuse_wide_integers(raw.decode(), orjson.loads(raw))

    assert caught.value.path == "a.1.b"


def test_a_long_digit_run_inside_a_string_is_untouched_and_large_floats_are_accepted() -> None:
    raw = b'{"s": "1180591620717411303425", "f": 1.00000000000000000000001, "big": 1e30, "neg": -1.5e19}'
    document = orjson.loads(raw)

    assert may_hold_wide_integer(document), "a float this large is looked at again"
    refuse_wide_integers(raw, document)
    assert loads_exact(raw) == document
    assert document["s"] == "1180591620717411303425"


def test_a_huge_literal_is_never_converted_and_is_shown_shortened() -> None:
    raw = b'{"n": -' + b"7" * 100_000 + b"}"  # far past Python's 4300-digit conversion limit

    found = find_wide_integer(loads_exact(raw))

    message = str(found)
    assert message.startswith("'n': integer -7777") and "(100000 digits)" in message and len(message) < 200


def test_a_document_from_another_exact_parser_is_walked_too() -> None:
    document = {"requests": [{"body": {"max": 2**64}}], "fine": [2**64 - 1, -(2**63)], "flag": True}

    found = find_wide_integer(document, "batch")

    assert found is not None and found.path == "batch.requests.0.body.max"
    assert find_wide_integer({"fine": [2**64 - 1, -(2**63), True, 1.5e300]}) is None


def test_a_wide_integer_marker_cannot_be_written_as_json() -> None:
    document = loads_exact(b"[18446744073709551616]")

    assert isinstance(document[0], WideInteger) and document[0].literal == "18446744073709551616"
    with pytest.raises(TypeError):
        orjson.dumps(document)
    with pytest.raises(TypeError):
        json.dumps(document)


def test_only_a_document_with_a_float_of_magnitude_2_63_is_parsed_again() -> None:
    for inside in (2**64 - 1, -(2**63), 10**17):
        assert not may_hold_wide_integer(orjson.loads(chat_body(inside)))
    assert not may_hold_wide_integer(orjson.loads(b'{"s": "1180591620717411303425", "f": [1.5, -9.2e18]}'))
    for outside in (INTEGER_MAX + 1, INTEGER_MIN - 1):  # -2**63-1 reads as the float -2**63
        assert may_hold_wide_integer(orjson.loads(chat_body(outside)))
        assert may_hold_wide_integer(orjson.loads(str(outside).encode())), "a bare number is a document too"


def test_a_literal_a_parser_calls_invalid_is_named_and_other_invalid_text_is_not() -> None:
    raw = b'{"tools": [{"parameters": {"n": ' + b"9" * 5000 + b"}}]}"
    with pytest.raises(orjson.JSONDecodeError):  # too long for a double: orjson calls the document invalid
        orjson.loads(raw)

    found = wide_integer_refused(raw)

    assert found is not None and found.path == "tools.0.parameters.n" and "(5000 digits)" in str(found)
    for invalid in (b'{"n": 1e400}', b'{"n": ', b'{"n": "\xff"}', b"[" * 100_000):
        assert wide_integer_refused(invalid) is None
