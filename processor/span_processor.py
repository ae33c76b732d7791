"""BehaviorSpanProcessor: score every answer inside the application's process.

``on_end`` only offers the span to a bounded queue (O(1), never blocks the app); a daemon worker
converts, assembles traces, scores and hands evaluations to the sinks. A full queue drops the span
and counts it.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from mre.processor.assembly import TraceAssembler
from mre.processor.pipeline import ScoringPipeline
from mre.processor.spans import from_readable_span
from mre.processor.worker import TraceHook, TraceWorker, WorkerStats

ProcessorStats = WorkerStats


def _ingest(span: ReadableSpan, assembler: TraceAssembler, now: float) -> None:
    assembler.add(from_readable_span(span), now)


class BehaviorSpanProcessor(SpanProcessor):
    def __init__(
        self,
        pipeline: ScoringPipeline | None = None,
        *,
        max_queue_size: int = 20_000,
        grace_s: float = 0.5,
        timeout_s: float = 30.0,
        poll_interval_s: float = 0.1,
        assembler: TraceAssembler | None = None,
        on_trace: TraceHook | None = None,
    ) -> None:
        self._worker: TraceWorker[ReadableSpan] = TraceWorker(
            _ingest,
            pipeline or ScoringPipeline(),
            assembler or TraceAssembler(grace_s=grace_s, timeout_s=timeout_s),
            max_queue_spans=max_queue_size,
            poll_interval_s=poll_interval_s,
            on_trace=on_trace,
            name="mre-behavior-processor",
        )

    @property
    def pipeline(self) -> ScoringPipeline:
        return self._worker.pipeline

    @property
    def assembler(self) -> TraceAssembler:
        return self._worker.assembler

    @property
    def stats(self) -> WorkerStats:
        return self._worker.stats

    @property
    def queue_size(self) -> int:
        return self._worker.queue_size

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self._worker.offer(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Score everything received so far, complete or not; True when done within the timeout."""
        return self._worker.flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        self._worker.close()
