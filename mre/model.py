"""The data model shared by instrumentation, processor and exporters.

An :class:`Interaction` is one answer of a RAG system: the generation together with the retrievals and
guardrail checks that fed or judged it. Fields that were not captured are ``None``, never empty:
scorers must tell "not captured" from "nothing there".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Document:
    """One retrieved document (or chunk).

    ``score`` is a similarity (higher is closer); stores that return a distance (Chroma) keep it in
    ``distance`` so nobody flips a sign by accident.
    """

    id: str
    content: str | None = None
    score: float | None = None
    distance: float | None = None
    rank: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``gen_ai.retrieval.documents`` item: ``id`` and ``score`` per semconv, the rest as extras."""
        out: dict[str, Any] = {"id": self.id, "score": self.score}
        if self.distance is not None:
            out["distance"] = self.distance
        if self.rank is not None:
            out["rank"] = self.rank
        if self.content is not None:
            out["content"] = self.content
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out

    @classmethod
    def from_json(cls, item: Mapping[str, Any], rank: int | None = None) -> Document:
        """Read one ``gen_ai.retrieval.documents`` item; tolerant of missing or mistyped fields."""
        get = item.get
        ident, content, score, distance = get("id", ""), get("content"), get("score"), get("distance")
        metadata, given_rank = get("metadata"), get("rank", rank)
        # Well-typed fields (what every instrumentation writes) skip the conversions and the ABC
        # check, and go in by position: this runs for every document of every retrieval.
        return cls(
            ident if type(ident) is str else str(ident),
            content if type(content) is str else _opt_str(content),
            score if score is None or type(score) is float else _opt_float(score),
            distance if distance is None or type(distance) is float else _opt_float(distance),
            given_rank if type(given_rank) is int else _opt_int(given_rank),
            metadata if type(metadata) is dict or (metadata is not None and isinstance(metadata, Mapping)) else {},
        )


@dataclass(frozen=True, slots=True)
class Retrieval:
    """One retrieval step. ``documents is None`` means the documents were not captured."""

    span_id: str
    query: str | None = None
    documents: Sequence[Document] | None = None
    data_source: str | None = None
    top_k: int | None = None
    start_ns: int = 0
    end_ns: int = 0


@dataclass(frozen=True, slots=True)
class GuardrailCheck:
    """One guardrail decision, normalized to the draft `run_guardrail` verdicts.

    ``verdict`` is one of allow, deny, modify, warn, escalate or unknown; ``native_verdict`` keeps what
    the guardrail itself said. ``target`` is input or output; ``None`` only before assembly, which
    tells them apart by where the check sits next to the generation when the span did not say.
    """

    span_id: str
    name: str
    target: str | None = "output"
    verdict: str = "unknown"
    native_verdict: str | None = None
    categories: tuple[str, ...] = ()
    score: float | None = None
    start_ns: int = 0
    end_ns: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Interaction:
    """One answer, assembled from the spans of one trace."""

    trace_id: str  # 32 hex digits
    span_id: str  # the generation span, 16 hex digits
    dialect: str = "otel"
    service: str | None = None
    provider: str | None = None
    model: str | None = None  # response model when known, else request model
    response_id: str | None = None
    question: str | None = None
    system_prompt: str | None = None
    input_messages: Sequence[Message] | None = None
    answer: str | None = None
    retrievals: Sequence[Retrieval] = ()
    guardrails: Sequence[GuardrailCheck] = ()
    principal: str | None = None
    route: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    start_ns: int = 0
    end_ns: int = 0

    @property
    def documents(self) -> list[Document] | None:
        """All captured documents in retrieval order, or None when no retrieval captured any."""
        captured = [r.documents for r in self.retrievals if r.documents is not None]
        if not captured:
            return None
        return [doc for docs in captured for doc in docs]

    @property
    def contexts(self) -> list[str] | None:
        """The text of the captured documents; ``[]`` when retrieval found nothing, None if not captured."""
        docs = self.documents
        if docs is None:
            return None
        texts = [d.content for d in docs if d.content]
        if docs and not texts:
            return None  # documents were retrieved but their text was not captured
        return texts


@dataclass(frozen=True, slots=True)
class Score:
    """One scorer's verdict on one interaction.

    ``value`` is in [0, 1], higher is better. ``label`` is low-cardinality (pass/fail or an outcome
    name). ``details`` carries structured findings (e.g. which claims were unsupported and why).
    """

    name: str
    value: float
    label: str
    explanation: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SLOOutcome:
    slo: str
    good: bool


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything the processor concluded about one interaction."""

    interaction: Interaction
    scores: Mapping[str, Score]
    slo_outcomes: Sequence[SLOOutcome] = ()
    duration_s: float = 0.0
    cause: str | None = None  # context | generation | harness | coverage | abstention, when an SLO failed
    # Why the answer could not be fully scored (``None`` when it was): such an answer is counted,
    # fails the scoring-coverage SLO and never counts as a good event of an SLO it was not scored for.
    unscored: str | None = None
    # Scorers that gave no score, each with the first input it lacked (or ``not_applicable``).
    skipped: Mapping[str, str] = field(default_factory=dict)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
