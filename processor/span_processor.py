"""BehaviorSpanProcessor: score every answer inside the application's process.

``on_end`` only offers the span to a bounded queue (O(1), never blocks the app); a daemon worker
converts, assembles traces, scores and hands evaluations to the sinks. A full queue drops the span
and counts it.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Status

from mre.model import Evaluation
from mre.processor.assembly import TraceAssembler
from mre.processor.interactions import ReadOptions
from mre.processor.pipeline import ScoringPipeline
from mre.processor.spans import SpanRecord, from_readable_span
from mre.processor.strip import keep_event, score_attributes, strip_attributes
from mre.processor.worker import TraceHook, TraceWorker, WorkerStats


def _ingest(span: ReadableSpan, assembler: TraceAssembler, now: float) -> None:
    assembler.add(from_readable_span(span), now)


def _ingest_keeping_source(span: ReadableSpan, assembler: TraceAssembler, now: float) -> None:
    assembler.add(from_readable_span(span, keep_source=True), now)


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
        downstream: SpanProcessor | None = None,
        strip_content: bool = False,
        read_options: ReadOptions | None = None,
    ) -> None:
        """With ``downstream`` (e.g. a BatchSpanProcessor around your exporter), spans are handed on
        only after their trace was scored, enriched with ``mre.score.*``; with ``strip_content`` they
        leave without any prompt, completion, query or document text (score then strip)."""
        self._downstream = downstream
        if downstream is not None:
            on_trace = _forwarding(downstream, strip_content, on_trace)
        self._worker: TraceWorker[ReadableSpan] = TraceWorker(
            _ingest_keeping_source if downstream is not None else _ingest,
            pipeline or ScoringPipeline(),
            assembler or TraceAssembler(grace_s=grace_s, timeout_s=timeout_s),
            max_queue_spans=max_queue_size,
            poll_interval_s=poll_interval_s,
            on_trace=on_trace,
            name="mre-behavior-processor",
            read_options=read_options,
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
        done = self._worker.flush(timeout_millis / 1000)
        if self._downstream is not None:
            done = self._downstream.force_flush(timeout_millis) and done
        return done

    def shutdown(self) -> None:
        self._worker.close()
        if self._downstream is not None:
            self._downstream.shutdown()


def enriched_span(span: ReadableSpan, evaluation: Evaluation | None, strip_content: bool) -> ReadableSpan:
    """A copy of ``span`` with its scores (and, when stripping, without any text)."""
    attributes = dict(span.attributes or {})
    events = list(span.events)
    if strip_content:
        attributes = strip_attributes(attributes)
        events = [
            Event(e.name, strip_attributes(e.attributes or {}), e.timestamp) for e in events if keep_event(e.name)
        ]
    if evaluation is not None:
        attributes.update(score_attributes(evaluation))
    status = span.status
    if strip_content and status.description:
        status = Status(status.status_code)  # an error's message may quote the input
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _forwarding(downstream: SpanProcessor, strip_content: bool, then: TraceHook | None) -> TraceHook:
    def forward(spans: Sequence[SpanRecord], evaluations: Sequence[Evaluation]) -> None:
        by_span = {int(e.interaction.span_id, 16): e for e in evaluations}
        for record in spans:
            if isinstance(record.source, ReadableSpan):
                downstream.on_end(enriched_span(record.source, by_span.get(record.span_id), strip_content))
        if then is not None:
            then(spans, evaluations)

    return forward
