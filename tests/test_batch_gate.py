"""Pure rules of the batch gate: which chosen lines a tick admits, and how long a batch a limit refused waits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ledger import holds, journal, limits
from ledger.batch_gate import Line, screen

NOW = datetime(2026, 3, 31, 14, 7, 20, tzinfo=UTC)


def request(job_id: str, workspace: str = "ws_a", key: str = "key_a", hold: int = 10, tokens: int = 20) -> Line:
    batch = job_id.split("-")[0]
    return Line(batch, holds.HoldRequest(job_id, workspace, key, "m", hold, (), tokens=tokens))


def accounts(**available: int) -> dict[str, journal.Balances]:
    return {ws: journal.Balances(credit, 0, 0, 0, 0) for ws, credit in available.items()}


def book(keys: Sequence[limits.Configured] = (), workspaces: Sequence[limits.Configured] = ()) -> limits.LimitBook:
    """A book whose usage is read: nothing used yet."""
    found = limits.book_of(NOW, list(keys), list(workspaces))
    found.spend = {key_id: limits.Spend() for key_id in found.caps}
    found.usage_loaded = True
    return found


def test_a_rate_limited_batch_keeps_its_prefix_and_waits_for_the_window_while_another_batch_goes_on() -> None:
    limited = book(keys=[limits.Configured("key_a", rpm_max=2, tpm_max=None)])
    lines = [request(f"b1-{n}") for n in range(4)] + [request(f"b2-{n}", "ws_b", "key_b") for n in range(3)]
    screened = screen(lines, accounts(ws_a=1000, ws_b=1000), limited, {}, cap_recheck_s=1)
    assert screened.kept == [0, 1, 4, 5, 6]
    assert screened.throttled == {"b1": datetime(2026, 3, 31, 14, 8, tzinfo=UTC)}
    assert screened.short == {} and screened.tried == {"b1", "b2"}
    # The book handed on to admission is untouched: admission counts the kept lines itself.
    assert limited.counters == {}


def test_a_spend_cap_waits_for_a_recheck_or_the_next_day_and_a_hold_over_the_cap_alone_is_kept_to_fail() -> None:
    capped = book(keys=[limits.Configured("key_a", None, None, daily_spend_max_tokens=25)])
    screened = screen([request(f"b1-{n}") for n in range(4)], accounts(ws_a=1000), capped, {}, cap_recheck_s=1)
    assert screened.kept == [0, 1] and screened.throttled == {"b1": NOW + timedelta(seconds=1)}
    late = book(keys=[limits.Configured("key_a", None, None, daily_spend_max_tokens=25)])
    late.now = datetime(2026, 3, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    screened = screen([request(f"b1-{n}") for n in range(3)], accounts(ws_a=1000), late, {}, cap_recheck_s=1)
    assert screened.throttled == {"b1": datetime(2026, 4, 1, tzinfo=UTC)}
    hopeless = book(keys=[limits.Configured("key_a", None, None, monthly_spend_max_tokens=5)])
    screened = screen([request(f"b1-{n}") for n in range(2)], accounts(ws_a=1000), hopeless, {}, cap_recheck_s=1)
    assert screened.kept == [0, 1] and screened.throttled == {}


def test_credit_short_stops_the_workspace_and_a_token_bound_over_the_tpm_is_kept_to_fail() -> None:
    tpm = book(workspaces=[limits.Configured("ws_a", rpm_max=None, tpm_max=50)])
    lines = [request("b1-0", tokens=60), request("b1-1", hold=600), request("b1-2"), request("b3-0")]
    screened = screen(lines, accounts(ws_a=500), tpm, {}, cap_recheck_s=1)
    # The workspace is short of the hold of its first line that did not fit (not of a later, smaller one).
    assert screened.kept == [0] and screened.short == {"ws_a": 600} and screened.throttled == {}


def test_the_next_months_start_rolls_the_year() -> None:
    assert limits.next_month_start_of(datetime(2026, 12, 31, 23, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert limits.next_month_start_of(NOW) == datetime(2026, 4, 1, tzinfo=UTC)
