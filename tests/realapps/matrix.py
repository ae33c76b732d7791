"""Score recorded (or live) spans of a handbook app and say, per planted fault and per correct answer,
what mre concluded: the figures of the real-application matrix.

    python -m tests.realapps.matrix            # the table over every recording in tests/fixtures/apps
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mre.model import Evaluation, Interaction
from mre.processor.assembly import TraceAssembler
from mre.processor.interactions import ReadOptions
from mre.processor.pipeline import ScoringPipeline
from mre.processor.spans import SpanEvent, SpanRecord
from mre.processor.worker import TraceWorker, WorkerStats
from tests.realapps.handbook import CASES, Case, case_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "apps"

# Which recordings are a path of the matrix: an instrumentation that does not reach an app's calls
# at all (a framework instrumentor under a raw-client app) is not a path.
APPLICABLE: dict[str, tuple[str, ...]] = {
    "mre": ("langchain", "langchain_anthropic", "llamaindex", "openai", "anthropic"),
    "openllmetry": ("langchain", "langchain_anthropic", "llamaindex", "openai", "anthropic"),
    "openinference-framework": ("langchain", "langchain_anthropic", "llamaindex"),
    "openinference-framework-client": ("langchain", "langchain_anthropic", "llamaindex", "openai", "anthropic"),
    "official-genai": ("langchain", "llamaindex", "openai"),
    "official-genai-mre": ("langchain", "llamaindex", "openai"),
    "openlit": ("langchain", "langchain_anthropic", "llamaindex", "openai", "anthropic"),
}


# What an instrumentation does not record, so that no scorer can judge it: the test asserts these
# exactly (a better recording shows up as an expectation to update, never as silence).
PROMPT_ONLY_NO_METADATA = (
    "no retrieval telemetry (or documents recorded without metadata): the faults that need document "
    "versions or ACLs cannot be seen"
)
NO_ACL_IN_PROMPT = "the context comes from the prompt, which carries document ids but no ACL"
LIMITS: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("official-genai", "langchain"): (
        frozenset({"superseded_marked", "superseded_unmarked", "permission_leak"}),
        "the official instrumentation traces no retrieval and LangChain's format_docs puts no ids in the prompt",
    ),
    ("openlit", "langchain"): (
        frozenset({"superseded_marked", "superseded_unmarked", "permission_leak"}),
        "OpenLIT 1.45 records retrieved documents without their metadata, named after their source file",
    ),
    ("openlit", "langchain_anthropic"): (
        frozenset({"superseded_marked", "superseded_unmarked", "permission_leak"}),
        "OpenLIT 1.45 records retrieved documents without their metadata, named after their source file",
    ),
    ("official-genai", "openai"): (frozenset({"permission_leak"}), NO_ACL_IN_PROMPT),
    ("openinference-framework-client", "openai"): (frozenset({"permission_leak"}), NO_ACL_IN_PROMPT),
    ("openinference-framework-client", "anthropic"): (frozenset({"permission_leak"}), NO_ACL_IN_PROMPT),
    ("openlit", "openai"): (frozenset({"permission_leak"}), NO_ACL_IN_PROMPT),
    ("openlit", "anthropic"): (frozenset({"permission_leak"}), NO_ACL_IN_PROMPT),
}
# (instrumentation, app, mode) that export no generation span at all: nothing to score per answer; the
# processor counts each such trace in mre_processor_traces_incomplete_total{reason="missing_parent"}.
NO_GENERATION_SPAN: dict[tuple[str, str, str], str] = {
    ("openlit", "langchain", "stream"): "OpenLIT 1.45 never ends its span of a streamed LangChain call",
    ("openlit", "langchain", "astream"): "OpenLIT 1.45 never ends its span of a streamed LangChain call",
    ("openlit", "langchain", "ainvoke"): "OpenLIT 1.45 never ends its span of an async LangChain call",
    ("openlit", "langchain_anthropic", "stream"): "OpenLIT 1.45 never ends its span of a streamed LangChain call",
}


def load(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        recorded: dict[str, Any] = json.load(f)
    return recorded


def records(recorded: dict[str, Any]) -> list[SpanRecord]:
    out = []
    for s in recorded["spans"]:
        out.append(
            SpanRecord(
                trace_id=int(s["trace_id"], 16),
                span_id=int(s["span_id"], 16),
                parent_span_id=int(s["parent_span_id"], 16) if s["parent_span_id"] else None,
                name=s["name"],
                start_ns=s["start"],
                end_ns=s["end"],
                attributes=s["attributes"],
                events=tuple(SpanEvent(e["name"], e["attributes"]) for e in s["events"]),
                resource=s["resource"],
            )
        )
    return out


def by_trace(spans: Iterable[SpanRecord]) -> list[list[SpanRecord]]:
    traces: dict[int, list[SpanRecord]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return list(traces.values())


def _prompt_text(interaction: Interaction) -> str:
    return "\n".join(m.content for m in interaction.input_messages or ())


def case_of(interaction: Interaction) -> Case | None:
    return case_for(interaction.question or "") or case_for(_prompt_text(interaction))


@dataclass
class CaseResult:
    case: Case
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(not o.good for e in self.evaluations for o in e.slo_outcomes if o.slo != COVERAGE_SLO)

    @property
    def unscored(self) -> list[str]:
        return [e.unscored for e in self.evaluations if e.unscored is not None]


COVERAGE_SLO = "scoring-coverage"


@dataclass
class PathResult:
    instrumentation: str
    app: str
    mode: str
    cases: dict[str, CaseResult]
    unmatched: list[Evaluation]
    traces_missing_parent: int = 0

    @property
    def name(self) -> str:
        return f"{self.instrumentation} / {self.app} {self.mode}"

    @property
    def found(self) -> list[str]:
        return [r.case.fault for r in self.cases.values() if r.case.fault and r.failed]  # type: ignore[misc]

    @property
    def missed(self) -> list[str]:
        return [r.case.fault for r in self.cases.values() if r.case.fault and not r.failed]  # type: ignore[misc]

    @property
    def false_failures(self) -> list[str]:
        return [r.case.question for r in self.cases.values() if r.case.fault is None and r.failed]

    @property
    def duplicates(self) -> int:
        """Interactions beyond one per answer (a layer read twice, a moderation call read as an answer)."""
        return sum(max(0, len(r.evaluations) - 1) for r in self.cases.values()) + len(self.unmatched)

    @property
    def unaccounted(self) -> list[str]:
        """Answers that have no interaction at all: nothing scored them and nothing counted them."""
        return [r.case.question for r in self.cases.values() if not r.evaluations]

    @property
    def unscored(self) -> Counter[str]:
        return Counter(reason for r in self.cases.values() for reason in r.unscored)

    def row(self) -> str:
        faults = sum(1 for c in CASES if c.fault)
        unscored = ", ".join(f"{k} {v}" for k, v in sorted(self.unscored.items())) or "-"
        return (
            f"| {self.instrumentation} | {self.app} {self.mode} | {len(self.found)}/{faults} | "
            f"{len(self.false_failures)} | {self.duplicates} | {len(self.unaccounted)} | {unscored} | "
            f"{', '.join(self.missed) or '-'} |"
        )


HEADER = (
    "| instrumentation | app | faults found | false failures | extra interactions | unaccounted answers "
    "| unscored (reason) | missed |\n|---|---|---|---|---|---|---|---|"
)


def evaluate(evaluations: Sequence[Evaluation], instrumentation: str, app: str, mode: str) -> PathResult:
    results = {c.question: CaseResult(c) for c in CASES}
    unmatched = []
    for evaluation in evaluations:
        case = case_of(evaluation.interaction)
        if case is None:
            unmatched.append(evaluation)
        else:
            results[case.question].evaluations.append(evaluation)
    return PathResult(instrumentation, app, mode, results, unmatched)


def score_spans(
    spans: Sequence[SpanRecord], pipeline: ScoringPipeline | None = None, options: ReadOptions | None = None
) -> tuple[list[Evaluation], WorkerStats]:
    """Each trace through the processor's own worker (as both modes run it): evaluations and counters."""
    worker: TraceWorker[SpanRecord] = TraceWorker(
        lambda item, assembler, now: None, pipeline or ScoringPipeline(), TraceAssembler(), read_options=options
    )
    try:
        evaluations = [e for trace in by_trace(spans) for e in worker.process_trace(trace)]
    finally:
        worker.close()
    return evaluations, worker.stats


def recorded_paths() -> list[Path]:
    paths = []
    for instrumentation, apps in sorted(APPLICABLE.items()):
        for path in sorted((FIXTURES / instrumentation).glob("*.json.gz")):
            if path.name.split("-", 1)[0] in apps:
                paths.append(path)
    return paths


def replay(path: Path, pipeline: ScoringPipeline | None = None) -> PathResult:
    recorded = load(path)
    evaluations, stats = score_spans(records(recorded), pipeline)
    result = evaluate(evaluations, recorded["instrumentation"], recorded["app"], recorded["mode"])
    result.traces_missing_parent = stats.traces_missing_parent
    return result


def main() -> int:
    print(HEADER)
    for path in recorded_paths():
        print(replay(path).row())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
