"""Pure rules of a paced loop's reports: runs longer than the interval are summed up at most once a minute, a run
that stalls is reported at once, and a minute with none, or with a few barely long ones, says nothing (times passed
in, nothing waited for)."""

from __future__ import annotations

from ledger.pacing import Overruns


def test_overruns_are_summed_up_once_a_minute_and_a_stall_is_reported_at_once() -> None:
    overruns = Overruns("batch feeder", 0.05)
    # A loaded minute: 1,000 runs, every tenth one 80 ms long (mode's timer would have warned 100 times).
    reports = [overruns.record(0.08 if n % 10 == 0 else 0.01, n * 0.0601) for n in range(1, 1001)]
    lines = [line for line in reports if line]
    assert len(lines) == 1
    assert lines[0].startswith("batch feeder: 100 of 1000 runs in the last 60s took longer than the 50 ms interval")
    assert "longest 80 ms" in lines[0]
    # A run that stalls is real trouble: said at once, each time.
    assert overruns.record(7.5, 67.6) == "batch feeder: one run took 7.5s (interval 0.05s)"
    assert overruns.record(6.0, 74.1) is not None
    # A quiet minute says nothing, and nothing carries over into the next.
    assert [overruns.record(0.01, 74.1 + n) for n in range(1, 120)] == [None] * 119


def test_a_minute_with_a_few_barely_long_runs_says_nothing_but_one_long_run_is_summed_up() -> None:
    overruns = Overruns("batch feeder", 0.05)
    # An idle stack on a slow machine: 340 runs a minute, two of them a few ms over the interval.
    reports = [overruns.record(0.064 if n in (100, 200) else 0.002, n * 0.177) for n in range(1, 341)]
    assert [line for line in reports if line] == []
    # Rare but long (a run of 1.5 s, short of a stall): worth a line.
    reports = [overruns.record(1.5 if n == 50 else 0.002, 60.2 + n * 0.177) for n in range(1, 341)]
    lines = [line for line in reports if line]
    assert len(lines) == 1
    assert lines[0].startswith("batch feeder: 1 of ")
    assert "longest 1500 ms" in lines[0]
