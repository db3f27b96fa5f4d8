"""How a ledger loop that runs every few ms reports runs longer than its interval: rarely, and summed up.

Mode's timer (under `app.timer`) warns "Timer ... is overlapping" at every run longer than its interval. For the
batch feeder (every 50 ms) such runs are expected on a loaded machine or in a tick that releases thousands of
lines: the next run simply starts an interval after it ended, nothing overlaps or piles up, and tens of warnings a
minute only bury the ones that matter. So the feeder runs in a loop of its own (`ledger.app`) that feeds each run's
duration here: overruns are summed up in at most one warning per `report_every_s` (how many, of how many runs, and
the longest), while a run past `stall_s` (real trouble: a lock waited for, a database that stalls) is still reported
at once, every time. A minute in which overruns were rare and short (under `share_min` of the runs, none past
`long_s`) says nothing: an idle stack on a slow machine overran by a millisecond once or twice a minute and warned
about it every few minutes, which taught operators to skip the ledger's warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Overruns:
    """Runs of one loop that took longer than its interval, since the last report (pure: times are passed in)."""

    name: str
    interval_s: float
    report_every_s: float = 60.0
    stall_s: float = 5.0
    share_min: float = 0.05
    long_s: float = 1.0
    runs: int = 0
    overran: int = 0
    longest_s: float = 0.0
    reported_at: float | None = field(default=None)

    def record(self, ran_s: float, now: float) -> str | None:
        """Count a run that took `ran_s` and ended at `now` (a monotonic clock); a line to log, if one is due."""
        if self.reported_at is None:
            self.reported_at = now - ran_s
        self.runs += 1
        if ran_s > self.stall_s:
            return f"{self.name}: one run took {ran_s:.1f}s (interval {self.interval_s:g}s)"
        if ran_s > self.interval_s:
            self.overran += 1
            self.longest_s = max(self.longest_s, ran_s)
        if now - self.reported_at < self.report_every_s:
            return None
        line = None
        if self.overran and (self.overran >= self.share_min * self.runs or self.longest_s >= self.long_s):
            line = (
                f"{self.name}: {self.overran} of {self.runs} runs in the last {now - self.reported_at:.0f}s took longer"
                f" than the {self.interval_s * 1000:g} ms interval (longest {self.longest_s * 1000:.0f} ms); each next"
                " run started an interval after the last ended"
            )
        self.reported_at, self.runs, self.overran, self.longest_s = now, 0, 0, 0.0
        return line
