"""Behavioural SLO definitions.

An SLO here says: for this share of answers (``objective``) the scorer ``scorer`` must reach
``threshold``. An answer whose score is absent (content not captured) is not an event for the SLO:
it neither spends nor earns budget.

The shipped defaults (``mre/slos.yaml``, :func:`mre.slo_spec.default_slos`) are what ``mre demo`` and the
embedded processor use when the user gives no SLO file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mre.model import Score, SLOOutcome


@dataclass(frozen=True, slots=True)
class SLO:
    name: str
    scorer: str
    threshold: float
    objective: float  # e.g. 0.95: 95% of answers must be good
    window_days: int = 28
    description: str = ""

    def __post_init__(self) -> None:
        if not 0.0 < self.objective < 1.0:
            raise ValueError(f"SLO {self.name!r}: objective must be in (0, 1), got {self.objective}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"SLO {self.name!r}: threshold must be in [0, 1], got {self.threshold}")

    def outcome(self, scores: Mapping[str, Score]) -> SLOOutcome | None:
        score = scores.get(self.scorer)
        if score is None:
            return None
        return SLOOutcome(slo=self.name, good=score.value >= self.threshold)


def evaluate_slos(slos: Sequence[SLO], scores: Mapping[str, Score]) -> list[SLOOutcome]:
    outcomes = []
    for slo in slos:
        outcome = slo.outcome(scores)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes
