"""Multiwindow, multi-burn-rate alert windows derived from the SLO period.

The SRE workbook (ch. 5, "Alerting on SLOs") fixes what each alert means as a share of the error
budget spent within its long window: page at 2 % in 1 hour or 5 % in 6 hours, ticket at 10 % in a
day or 10 % in 3 days, each confirmed by a short window of 1/12 of the long one. The burn factor is
then ``budget share x period / long window``: 14.4 / 6 / 3 / 1 for 30 days, 13.44 / 5.6 / 2.8 /
0.933 for 28 days (Sloth's google-30d and google-28d window files), so a 7-day SLO tickets after 10 %
of its budget, not 43 %.

A period must be long enough for its windows to mean something: the longest alert window has to fit
in half the period (a 3-day window cannot watch a 1-day budget), and no period may coincide with an
SLI window, whose recording rule it would duplicate. :func:`period_problem` says why a period is
refused; ``mre slo check`` reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

# Rate windows every SLO records (Sloth's set): the alert windows and the 5m base of the period SLI.
SLI_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# Budget windows recorded beside each SLO's own period, so a dashboard that asks for one of them
# (Sloth's 14348 defaults its sli_window to 30d) reads that window's true SLI instead of an empty
# series that its `or vector(0)` fallback shows as 100 %.
REPORT_WINDOWS: tuple[str, ...] = ("28d", "30d")
PAGE = "page"
TICKET = "ticket"

_MINUTES = {"m": 1, "h": 60, "d": 1440}


def minutes(window: str) -> int:
    """``"6h"`` -> 360. Windows here are whole minutes, hours or days."""
    return int(window[:-1]) * _MINUTES[window[-1]]


@dataclass(frozen=True, slots=True)
class AlertWindow:
    severity: str  # page | ticket
    name: str  # quick | slow, as Sloth names them
    short: str
    long: str
    budget_percent: int  # share of the error budget spent within the long window when it fires

    def factor(self, period_days: int) -> float:
        """The burn rate that spends ``budget_percent`` of a ``period_days`` budget in the long window.
        Exact rational arithmetic, so 28 days gives Sloth's 13.44 and 0.9333333333333333, not float noise."""
        return float(Fraction(self.budget_percent * period_days * 1440, 100 * minutes(self.long)))


# The workbook's windows (Sloth's google-30d / google-28d): the same four for every period; the
# factors carry the period.
ALERT_WINDOWS: tuple[AlertWindow, ...] = (
    AlertWindow(PAGE, "quick", "5m", "1h", 2),
    AlertWindow(PAGE, "slow", "30m", "6h", 5),
    AlertWindow(TICKET, "quick", "2h", "1d", 10),
    AlertWindow(TICKET, "slow", "6h", "3d", 10),
)
MIN_PERIOD_DAYS = 2 * max(minutes(w.long) for w in ALERT_WINDOWS) // 1440  # 6 days
MAX_PERIOD_DAYS = 366


def period_problem(period_days: int) -> str | None:
    """Why an SLO period cannot be served by the alert windows, or ``None`` when it can."""
    if period_days < MIN_PERIOD_DAYS:
        return (
            f"a {period_days}d period is too short for the burn-rate windows: the 3-day ticket window "
            f"must fit in half the period, so use at least {MIN_PERIOD_DAYS}d (28d is the usual choice)"
        )
    if period_days > MAX_PERIOD_DAYS:
        return (
            f"a {period_days}d period is longer than Prometheus keeps data by default; use at most {MAX_PERIOD_DAYS}d"
        )
    if f"{period_days}d" in SLI_WINDOWS:
        return f"a {period_days}d period coincides with an SLI window and would duplicate its recording rule"
    return None


def windows(period_days: int) -> tuple[tuple[AlertWindow, float], ...]:
    """Each alert window with its burn factor for this period (the period must be serviceable)."""
    problem = period_problem(period_days)
    if problem is not None:
        raise ValueError(problem)
    return tuple((w, w.factor(period_days)) for w in ALERT_WINDOWS)
