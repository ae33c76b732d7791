"""The offline regression gate: two runs of the scorers compared per scorer, with bootstrap
confidence intervals for the difference of mean scores.

A scorer regresses when the whole interval of (candidate - baseline) lies below ``-margin``: the
drop is both significant and larger than the margin the team accepts. Seeded: the same inputs give
the same verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mre.processor.question_drift import QuestionComparison, compare_questions, question_vector

QUESTION_ALPHA = 0.01


@dataclass(frozen=True, slots=True)
class ScorerGate:
    name: str
    n_baseline: int
    n_candidate: int
    mean_baseline: float
    mean_candidate: float
    difference: float
    low: float
    high: float
    regression: bool


def bootstrap_difference(
    baseline: Sequence[float], candidate: Sequence[float], *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(candidate mean - baseline mean, lower, upper) with a percentile bootstrap interval."""
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(candidate, dtype=float)
    rng = np.random.default_rng(seed)
    means_a = a[rng.integers(0, len(a), size=(resamples, len(a)))].mean(axis=1)
    means_b = b[rng.integers(0, len(b), size=(resamples, len(b)))].mean(axis=1)
    differences = means_b - means_a
    tail = (1.0 - level) / 2.0 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return float(b.mean() - a.mean()), float(low), float(high)


def gate(
    baseline: Mapping[str, Sequence[float]],
    candidate: Mapping[str, Sequence[float]],
    *,
    margin: float = 0.0,
    level: float = 0.95,
    min_samples: int = 30,
    seed: int = 0,
) -> list[ScorerGate]:
    results = []
    for name in sorted(set(baseline) & set(candidate)):
        a, b = baseline[name], candidate[name]
        if len(a) < min_samples or len(b) < min_samples:
            continue
        difference, low, high = bootstrap_difference(a, b, level=level, seed=seed)
        results.append(
            ScorerGate(
                name,
                len(a),
                len(b),
                float(np.mean(a)),
                float(np.mean(b)),
                difference,
                low,
                high,
                regression=high < -margin,
            )
        )
    return results


def question_mix(baseline: Sequence[str], candidate: Sequence[str], min_samples: int = 30) -> QuestionComparison | None:
    """Were both runs asked the same kind of questions? A gate over different question sets compares
    the questions as much as the models; None when either run has too few questions to say."""
    a = [question_vector(q) for q in baseline if q]
    b = [question_vector(q) for q in candidate if q]
    if len(a) < min_samples or len(b) < min_samples:
        return None
    return compare_questions(np.stack(a), np.stack(b))
