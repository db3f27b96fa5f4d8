"""RFC 7240 `Prefer` as the completions endpoint reads it: `respond-async` and `wait=N`, everything else ignored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingress.prefer import Preferences, parse_prefer


@pytest.mark.parametrize("header", [None, ""])
def test_no_header_asks_for_nothing(header: str | None) -> None:
    assert parse_prefer(header) == Preferences(respond_async=False, wait_s=None)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("respond-async", Preferences(respond_async=True)),
        ("wait=10", Preferences(wait_s=10.0)),
        ("wait=0", Preferences(wait_s=0.0)),
        ("respond-async, wait=10", Preferences(respond_async=True, wait_s=10.0)),
        ("wait=10, respond-async", Preferences(respond_async=True, wait_s=10.0)),
        ("respond-async,wait=3", Preferences(respond_async=True, wait_s=3.0)),
        ("  respond-async  ,   wait=7  ", Preferences(respond_async=True, wait_s=7.0)),
    ],
)
def test_the_two_preferences_alone_and_combined(header: str, expected: Preferences) -> None:
    assert parse_prefer(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Respond-Async", Preferences(respond_async=True)),
        ("RESPOND-ASYNC, WAIT=5", Preferences(respond_async=True, wait_s=5.0)),
        ("Wait=12", Preferences(wait_s=12.0)),
    ],
)
def test_preference_names_are_case_insensitive(header: str, expected: Preferences) -> None:
    assert parse_prefer(header) == expected


@pytest.mark.parametrize(
    ("header", "wait_s"),
    [('wait="10"', 10.0), ('respond-async, wait="4"', 4.0)],
)
def test_quoted_wait_values_are_read(header: str, wait_s: float) -> None:
    assert parse_prefer(header).wait_s == wait_s


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("respond-async; foo=bar", Preferences(respond_async=True)),
        ("wait=10; unit=s", Preferences(wait_s=10.0)),
        ("return=minimal, respond-async", Preferences(respond_async=True)),
        ("handling=strict, wait=2", Preferences(wait_s=2.0)),
    ],
)
def test_parameters_and_other_preferences_are_ignored(header: str, expected: Preferences) -> None:
    assert parse_prefer(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "wait=",
        "wait=abc",
        "wait=-1",
        "wait=1.5",
        "wait=1e3",
        "wait=0x10",
        "wait",
        "waiting=10",
        "wait==10",
        "respond-asynchronously",
        "respondasync",
        "async",
        ",,,",
        ";",
        '"respond-async"',
        "wait=10s",
        "\x00",
    ],
)
def test_garbage_is_ignored(header: str) -> None:
    assert parse_prefer(header) == Preferences()


def test_garbage_beside_a_good_preference_leaves_it_intact() -> None:
    assert parse_prefer("wait=abc, respond-async, x=;;, =") == Preferences(respond_async=True)


def test_the_last_valid_wait_wins() -> None:
    assert parse_prefer("wait=5, wait=abc, wait=8").wait_s == 8.0


# Starlette decodes header bytes as latin-1, so any of these code points can reach the parser.
latin1 = st.characters(max_codepoint=0xFF)
latin1_headers = st.text(alphabet=latin1, max_size=60)


@given(latin1_headers)
def test_any_header_gives_preferences_and_a_wait_is_a_whole_number(header: str) -> None:
    preferences = parse_prefer(header)

    assert isinstance(preferences.respond_async, bool)
    assert preferences.wait_s is None or (preferences.wait_s >= 0 and preferences.wait_s.is_integer())


latin1_digits = latin1.filter(str.isdigit)


@given(st.one_of(latin1_headers, st.text(alphabet=latin1_digits, min_size=1, max_size=4)))
def test_any_wait_value_is_read_as_whole_seconds_or_ignored(value: str) -> None:
    preferences = parse_prefer(f"wait={value}")

    assert preferences.wait_s is None or (preferences.wait_s >= 0 and preferences.wait_s.is_integer())


@pytest.mark.parametrize("header", ["wait=¹", "wait=²³", "wait=١٢"])
def test_non_ascii_digits_in_wait_are_ignored_not_a_crash(header: str) -> None:
    assert parse_prefer(header).wait_s is None


def test_wait_allows_whitespace_around_the_equals_sign() -> None:
    assert parse_prefer("wait = 10").wait_s == 10.0


@pytest.mark.parametrize(
    ("value", "wait_s"),
    [
        ("9" * 309, 86_400.0),
        ("9" * 5000, 86_400.0),
        ("86401", 86_400.0),
        ("0" * 400 + "7", 7.0),
        ('"' + "1" * 400 + '"', 86_400.0),
    ],
)
def test_an_absurdly_long_wait_reads_as_the_longest_and_never_overflows(value: str, wait_s: float) -> None:
    # RFC 7240 leaves the wait to the server: a longer wait than it grants is a request for its longest.
    assert parse_prefer(f"wait={value}").wait_s == wait_s


@given(st.text(alphabet="0123456789", min_size=1, max_size=6000))
def test_any_run_of_ascii_digits_is_a_bounded_whole_wait(value: str) -> None:
    wait_s = parse_prefer(f"wait={value}").wait_s
    assert wait_s is not None and 0 <= wait_s <= 86_400 and wait_s.is_integer()
