"""The one scoring pipeline both modes share: interaction -> scores -> SLO outcomes -> sinks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mre.model import Evaluation, Interaction, Score
from mre.processor.coverage import SCORE_NAME as COVERAGE_SCORE
from mre.processor.coverage import CoverageLog, coverage_score, skip_reason, unscored_reason
from mre.processor.scorers import NEEDS, Scorer, default_scorers
from mre.processor.triage import triage
from mre.slo import SLO, default_slos, evaluate_slos

logger = logging.getLogger(__name__)
SCORER_ERROR = "scorer_error"  # the skip reason of a scorer that raised (also in scorer_errors)


class EvaluationSink(Protocol):
    """Where evaluations go (Prometheus, evaluation log records, span enrichment...)."""

    def on_evaluation(self, evaluation: Evaluation) -> None: ...


@dataclass
class PipelineStats:
    interactions: int = 0
    scorer_errors: dict[str, int] = field(default_factory=dict)
    sink_errors: int = 0


class ScoringPipeline:
    def __init__(
        self,
        scorers: Mapping[str, Scorer] | None = None,
        slos: Sequence[SLO] | None = None,
        sinks: Iterable[EvaluationSink] = (),
    ) -> None:
        self.scorers = dict(scorers) if scorers is not None else default_scorers()
        self.slos = tuple(slos) if slos is not None else default_slos()
        self.sinks = list(sinks)
        self.stats = PipelineStats()
        self._lock = threading.Lock()
        self._coverage_log = CoverageLog()
        self._coverage_slos = frozenset(s.name for s in self.slos if s.scorer == COVERAGE_SCORE)

    def score(self, interaction: Interaction) -> Evaluation:
        started = time.perf_counter()
        scores: dict[str, Score] = {}
        skipped: dict[str, str] = {}
        for name, scorer in self.scorers.items():
            try:
                score = scorer(interaction)
            except Exception:
                # One broken scorer must not cost the others; it is counted and logged.
                logger.exception("scorer %s failed on trace %s", name, interaction.trace_id)
                with self._lock:
                    self.stats.scorer_errors[name] = self.stats.scorer_errors.get(name, 0) + 1
                skipped[name] = SCORER_ERROR
                continue
            if score is not None:
                scores[name] = score
            else:
                skipped[name] = skip_reason(interaction, NEEDS.get(name, ()))
        unscored = unscored_reason(interaction)
        scores[COVERAGE_SCORE] = coverage_score(unscored)
        outcomes = evaluate_slos(self.slos, scores)
        # The cause is named from the behaviour SLOs: an answer that could not be scored has none.
        behaviour = [o for o in outcomes if o.slo not in self._coverage_slos]
        cause = triage(interaction, scores, behaviour)
        return Evaluation(
            interaction, scores, outcomes, time.perf_counter() - started, cause, unscored=unscored, skipped=skipped
        )

    def process(self, interaction: Interaction) -> Evaluation:
        """Score and hand the result to every sink."""
        evaluation = self.score(interaction)
        if evaluation.unscored is not None:
            self._coverage_log.note(interaction, evaluation.unscored)
        with self._lock:
            self.stats.interactions += 1
        for sink in self.sinks:
            try:
                sink.on_evaluation(evaluation)
            except Exception:
                logger.exception("evaluation sink %s failed", type(sink).__name__)
                with self._lock:
                    self.stats.sink_errors += 1
        return evaluation
