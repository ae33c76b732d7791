"""A cost-bounded cascade: the cheap scorer decides what it is sure of; only its uncertain band goes
to the judge, within a sample rate, a rate limit and a budget. Every answer records why it was or was
not escalated (``details["escalation"]["decision"]``), the way TruLens' EVAL_DECISION does:

- ``certain``: the cheap score is outside the uncertain band;
- ``not_sampled``: in the band, but the sample draw said no;
- ``throttled``: the rate limit had no token left;
- ``over_budget``: the budget for the period is spent;
- ``judge_failed``: escalated, but the judge gave no verdict (the cheap score stands);
- ``escalated``: the judge's verdict replaces the cheap score.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mre.model import Interaction, Score

Scorer = Callable[[Interaction], Score | None]

CERTAIN = "certain"
NOT_SAMPLED = "not_sampled"
THROTTLED = "throttled"
OVER_BUDGET = "over_budget"
JUDGE_FAILED = "judge_failed"
ESCALATED = "escalated"
DECISIONS = (CERTAIN, NOT_SAMPLED, THROTTLED, OVER_BUDGET, JUDGE_FAILED, ESCALATED)


@dataclass
class RateLimit:
    """A token bucket: ``per_second`` refill, ``burst`` capacity."""

    per_second: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst <= 0:
            raise ValueError("rate limit needs a positive rate and burst")
        self._tokens = float(self.burst)
        self._at = self.clock()

    def take(self) -> bool:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass
class Budget:
    """At most ``max_cost`` per ``period_s`` (cost per call in any unit: USD, tokens, calls)."""

    max_cost: float
    cost_per_call: float = 1.0
    period_s: float = 86_400.0
    clock: Callable[[], float] = time.monotonic
    spent: float = field(default=0.0, init=False)
    _period_start: float = field(init=False)

    def __post_init__(self) -> None:
        self._period_start = self.clock()

    def charge(self) -> bool:
        now = self.clock()
        if now - self._period_start >= self.period_s:
            self._period_start, self.spent = now, 0.0
        if self.spent + self.cost_per_call > self.max_cost:
            return False
        self.spent += self.cost_per_call
        return True


class Cascade:
    def __init__(
        self,
        cheap: Scorer,
        judge: Scorer,
        *,
        band: tuple[float, float] = (0.2, 0.85),
        sample_rate: float = 1.0,
        rate_limit: RateLimit | None = None,
        budget: Budget | None = None,
        seed: int | None = None,
    ) -> None:
        low, high = band
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError("the uncertain band must satisfy 0 <= low <= high <= 1")
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError("sample_rate must be in [0, 1]")
        self.cheap, self.judge = cheap, judge
        self.band = band
        self.sample_rate = sample_rate
        self.rate_limit = rate_limit
        self.budget = budget
        self.decisions: dict[str, int] = dict.fromkeys(DECISIONS, 0)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def decide(self, cheap: Score) -> str:
        low, high = self.band
        if not low <= cheap.value < high:
            return CERTAIN
        with self._lock:
            if self._random.random() >= self.sample_rate:
                return NOT_SAMPLED
            if self.rate_limit is not None and not self.rate_limit.take():
                return THROTTLED
            if self.budget is not None and not self.budget.charge():
                return OVER_BUDGET
        return ESCALATED

    def __call__(self, interaction: Interaction) -> Score | None:
        cheap = self.cheap(interaction)
        if cheap is None:
            return None
        return self.finish(interaction, cheap, self.decide(cheap))

    def finish(self, interaction: Interaction, cheap: Score, decision: str) -> Score:
        """The score once ``decision`` is known: the judge is called only when it is ``escalated``
        (the scoring worker calls it off its own thread, :mod:`mre.processor.judges.pool`)."""
        verdict = self.judge(interaction) if decision == ESCALATED else None
        if decision == ESCALATED and verdict is None:
            decision = JUDGE_FAILED
        with self._lock:
            self.decisions[decision] += 1
        record = {"decision": decision, "cheap_value": round(cheap.value, 4)}
        if verdict is None:
            return replace(cheap, details={**cheap.details, "escalation": record})
        record["judge_value"] = round(verdict.value, 4)
        return replace(
            verdict,
            name=cheap.name,
            explanation=f"{verdict.explanation} (judge; cheap scorer said {cheap.value:.2f})",
            details={**cheap.details, **verdict.details, "escalation": record},
        )
