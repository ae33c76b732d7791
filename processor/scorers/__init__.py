"""Behavioural scorers: functions ``Interaction -> Score | None``.

``None`` means the scorer could not judge (what it needs was not captured, or it does not apply);
it is never a zero. Every scorer is a :class:`ScorerSpec` in one registry (:func:`register`): the
pipeline's default set (:func:`default_scorers`, stateful ones fresh per pipeline), the skip reasons
(:data:`NEEDS`), the evaluation names SLO files may use (declared into :mod:`mre.evaluations`) and the dashboards'
stage panels (:func:`by_stage`) all read it, so a new scorer is added here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from mre import evaluations as evaluation_names
from mre.model import Interaction, Score
from mre.processor.coverage import (
    NEEDS_ACL,
    NEEDS_ANSWER,
    NEEDS_CONTEXT,
    NEEDS_DOCUMENTS,
    NEEDS_FRESHNESS,
    NEEDS_INPUT_GUARDRAIL,
    NEEDS_PRINCIPAL,
    NEEDS_QUESTION,
)
from mre.processor.coverage import SCORE_NAME as SCORING_COVERAGE
from mre.processor.scorers.abstention import abstention
from mre.processor.scorers.calibration import confidence_calibration
from mre.processor.scorers.consistency import ConsistencyScorer
from mre.processor.scorers.faithfulness import faithfulness
from mre.processor.scorers.provenance import citations, conflicting_sources, freshness, permission_leak
from mre.processor.scorers.relevance import answer_relevance
from mre.processor.scorers.retrieval_quality import (
    chunk_boundary,
    context_overload,
    context_precision,
    lost_in_the_middle,
)
from mre.processor.scorers.safety import input_safety, safety

Scorer = Callable[[Interaction], Score | None]

RETRIEVAL = "retrieval"
GENERATION = "generation"
GUARDRAIL = "guardrail"
STAGES = (RETRIEVAL, GENERATION, GUARDRAIL)


@dataclass(frozen=True, slots=True)
class ScorerSpec:
    """One scorer, registered once: everything else (the pipeline's default set, the reasons it is
    skipped, the evaluation names an SLO file may use, the stage panels of the dashboards, the label
    allowlists) is read from here."""

    name: str  # the evaluation name: registry key, Score.name, metric label, record name
    scorer: Scorer
    needs: tuple[str, ...]  # what it reads (mre.processor.coverage): the first one missing is the skip reason
    stage: str  # which stage of the answer it judges (dashboards group by it)
    description: str
    # Stateful scorers are built anew per pipeline (a factory); stateless ones are shared.
    factory: Callable[[], Scorer] | None = None
    # Evaluations whose reported scores it reads: the pipeline runs those first and passes each
    # score (or None when it gave none) as a keyword argument of that name, and runs this scorer
    # again when a judge replaces one of them, so it always reads what was reported.
    reads: tuple[str, ...] = ()


_REGISTRY: dict[str, ScorerSpec] = {}


def register(spec: ScorerSpec) -> ScorerSpec:
    """Add a scorer to every surface. A second registration of a name is a mistake, not an update."""
    if spec.name in _REGISTRY:
        raise ValueError(f"a scorer named {spec.name!r} is already registered")
    if spec.stage not in STAGES:
        raise ValueError(f"scorer {spec.name!r}: stage must be one of {STAGES}, got {spec.stage!r}")
    for read in spec.reads:
        # One level only: what it reads is registered before it and reads nothing itself, so the
        # pipeline's order (readers last) is always enough.
        if read not in _REGISTRY or _REGISTRY[read].reads:
            raise ValueError(f"scorer {spec.name!r} reads {read!r}: register a scorer that reads nothing first")
    _REGISTRY[spec.name] = spec
    evaluation_names.declare(spec.name)  # SLO files (the core) may now name it
    return spec


def unregister(name: str) -> None:
    """Remove a scorer (tests that register one clean up after themselves)."""
    _REGISTRY.pop(name, None)
    evaluation_names.withdraw(name)


def registry() -> Mapping[str, ScorerSpec]:
    return MappingProxyType(_REGISTRY)


def by_stage(stage: str) -> tuple[str, ...]:
    return tuple(name for name, spec in _REGISTRY.items() if spec.stage == stage)


evaluation_names.declare(SCORING_COVERAGE)  # each answer's coverage score: an evaluation, not a scorer
for _spec in (
    ScorerSpec("faithfulness", faithfulness, (NEEDS_ANSWER, NEEDS_CONTEXT), GENERATION, "claims the context supports"),
    ScorerSpec(
        "answer_relevance", answer_relevance, (NEEDS_QUESTION, NEEDS_ANSWER), GENERATION, "addresses the question"
    ),
    ScorerSpec(
        "abstention",
        abstention,
        (NEEDS_QUESTION, NEEDS_ANSWER, NEEDS_CONTEXT),
        GENERATION,
        "abstains exactly when it should",
    ),
    ScorerSpec(
        "context_precision", context_precision, (NEEDS_QUESTION, NEEDS_CONTEXT), RETRIEVAL, "relevant documents first"
    ),
    ScorerSpec(
        "lost_in_the_middle", lost_in_the_middle, (NEEDS_ANSWER, NEEDS_CONTEXT), RETRIEVAL, "answer from mid-context"
    ),
    ScorerSpec("safety", safety, (NEEDS_ANSWER,), GUARDRAIL, "no PII, secret, toxic term or injection echo"),
    ScorerSpec(
        "input_safety", input_safety, (NEEDS_INPUT_GUARDRAIL,), GUARDRAIL, "no input guardrail flagged the question"
    ),
    ScorerSpec(
        "citations", citations, (NEEDS_ANSWER, NEEDS_DOCUMENTS), GENERATION, "citations point at retrieved documents"
    ),
    ScorerSpec("freshness", freshness, (NEEDS_DOCUMENTS, NEEDS_FRESHNESS), RETRIEVAL, "no superseded or stale source"),
    ScorerSpec("conflicting_sources", conflicting_sources, (NEEDS_ANSWER, NEEDS_CONTEXT), RETRIEVAL, "sources agree"),
    ScorerSpec(
        "permission_leak",
        permission_leak,
        (NEEDS_PRINCIPAL, NEEDS_DOCUMENTS, NEEDS_ACL),
        RETRIEVAL,
        "only readable documents",
    ),
    ScorerSpec(
        "chunk_boundary", chunk_boundary, (NEEDS_ANSWER, NEEDS_CONTEXT), RETRIEVAL, "no chunk cut off its qualifier"
    ),
    ScorerSpec(
        "context_overload", context_overload, (NEEDS_DOCUMENTS,), RETRIEVAL, "context not padded with irrelevant text"
    ),
    ScorerSpec(
        "confidence_calibration",
        confidence_calibration,
        (NEEDS_ANSWER, NEEDS_CONTEXT),
        GENERATION,
        "confidence matches support",
        reads=("faithfulness",),
    ),
    ScorerSpec(
        "consistency",
        ConsistencyScorer(),
        (NEEDS_QUESTION, NEEDS_ANSWER),
        GENERATION,
        "same question, same answer",
        factory=ConsistencyScorer,
    ),
):
    register(_spec)


class _Live(Mapping[str, Any]):
    """A read-only view of one field of the registry, always current."""

    def __init__(self, read: Callable[[ScorerSpec], Any], stateless_only: bool = False) -> None:
        self._read = read
        self._stateless_only = stateless_only

    def _admits(self, spec: ScorerSpec) -> bool:
        return not (self._stateless_only and spec.factory is not None)

    def __getitem__(self, key: str) -> Any:
        # A dict lookup, no copy: the pipeline reads NEEDS for every scorer that gives no score.
        spec = _REGISTRY[key]
        if not self._admits(spec):
            raise KeyError(key)
        return self._read(spec)

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, spec in _REGISTRY.items() if self._admits(spec)])

    def __len__(self) -> int:
        return sum(1 for spec in _REGISTRY.values() if self._admits(spec))


# The offline set that needs no state (pure functions), and what each scorer reads.
DEFAULT_SCORERS: Mapping[str, Scorer] = _Live(lambda spec: spec.scorer, stateless_only=True)
NEEDS: Mapping[str, tuple[str, ...]] = _Live(lambda spec: spec.needs)


def reads_of(name: str, scorer: Scorer) -> tuple[str, ...]:
    """What ``scorer`` reads when it is the one registered as ``name`` (a replacement reads nothing)."""
    spec = _REGISTRY.get(name)
    if spec is None or not spec.reads:
        return ()
    # The registered function, or one its factory class built; anything else replaced it.
    return spec.reads if scorer is spec.scorer or type(scorer) is spec.factory else ()


def default_scorers() -> dict[str, Scorer]:
    """The registered set with fresh state for the stateful scorers (one per pipeline)."""
    return {name: spec.factory() if spec.factory else spec.scorer for name, spec in _REGISTRY.items()}


__all__ = [
    "DEFAULT_SCORERS",
    "NEEDS",
    "ConsistencyScorer",
    "Scorer",
    "ScorerSpec",
    "by_stage",
    "default_scorers",
    "reads_of",
    "register",
    "registry",
    "unregister",
]
