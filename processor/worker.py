"""The shared engine of both modes: a bounded queue, a daemon worker, assembly, scoring.

Producers (the SDK's ``on_end`` in embedded mode, gRPC handlers in the service) only ``offer`` items;
the worker ingests them into the assembler, converts released traces to :class:`SpanRecord`, scores
each interaction and hands every released trace with its evaluations to ``on_trace`` (forwarding, in
the service). The queue is bounded in spans; nothing blocks a producer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from opentelemetry.instrumentation.utils import suppress_instrumentation

from mre.model import Evaluation, Interaction, Score
from mre.processor.assembly import TraceAssembler
from mre.processor.health import BAD_INPUT, UNREADABLE_SPAN
from mre.processor.interactions import ReadOptions, build_interactions
from mre.processor.judges.cascade import ESCALATED, JUDGE_FAILED, THROTTLED
from mre.processor.judges.pool import JudgePool
from mre.processor.pipeline import Deferred, ScoringPipeline
from mre.processor.spans import SpanRecord

logger = logging.getLogger(__name__)

T = TypeVar("T")

DROP_QUEUE_FULL = "queue_full"
DROP_SHUTDOWN = "shutdown"
DROP_INVALID = "invalid"
DROP_FAILED = "processing_failed"  # a bug in scoring a batch: its spans, counted, not the step's rest
# The worker's steps, as its CPU time is counted (``WorkerStats.cpu_seconds``, exported as
# mre_processor_cpu_seconds_total{step}): taking queued spans into traces, reading released traces
# (span records, then interactions), scoring them, and delivering the evaluations (sinks, and the trace
# hook: forwarding). Where an answer's cost goes, per step, on the operator's own traffic.
STEP_INGEST = "ingest"
STEP_READ = "read"
STEP_SCORE = "score"
STEP_DELIVER = "deliver"
STEPS = (STEP_INGEST, STEP_READ, STEP_SCORE, STEP_DELIVER)
# Traces taken through each step together (assembled, then scored, then delivered): bounds what one
# batch holds beyond what the assembler released, and how long its first answer waits (~80 ms).
BATCH_TRACES = 128

TraceHook = Callable[[Sequence[SpanRecord], Sequence[Evaluation]], None]
Ingest = Callable[[T, TraceAssembler, float], None]


@dataclass
class WorkerStats:
    spans_received: int = 0
    spans_dropped: dict[str, int] = field(default_factory=dict)
    traces_processed: int = 0
    refused: int = 0  # refused with a retryable status at the bound: the sender retries, nothing lost
    # Traces scored with a span whose (local) parent never arrived: an instrumentation that did not
    # end or export a span (OpenLIT's streamed LangChain calls), or spans lost on the way.
    traces_missing_parent: int = 0
    # CPU seconds of the thread that ran each step (the worker's; a judge's thread adds its rescoring
    # and the delivery of what it judged). Read by scrapes, written under the worker's lock, once per
    # batch of traces.
    cpu_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))

    def drop(self, reason: str, n: int = 1) -> None:
        self.spans_dropped[reason] = self.spans_dropped.get(reason, 0) + n

    def spend(self, step: str, seconds: float) -> None:
        self.cpu_seconds[step] += seconds


# This thread's CPU time: what a step cost, not the waits (the GIL, a judge's answer) around it.
_cpu_clock = time.thread_time


def _as_record(item: Any) -> SpanRecord:
    return item


class TraceWorker(Generic[T]):
    def __init__(
        self,
        ingest: Ingest[T],
        pipeline: ScoringPipeline,
        assembler: TraceAssembler,
        *,
        release: Callable[[Any], SpanRecord] = _as_record,
        max_queue_spans: int = 20_000,
        max_queue_bytes: int = 256 * 1024 * 1024,
        poll_interval_s: float = 0.1,
        on_trace: TraceHook | None = None,
        name: str = "mre-trace-worker",
        read_options: ReadOptions | None = None,
        judges: JudgePool | None = None,
    ) -> None:
        if max_queue_spans <= 0 or max_queue_bytes <= 0:
            raise ValueError("max_queue_spans and max_queue_bytes must be positive")
        self.pipeline = pipeline
        self.read_options = read_options or ReadOptions()
        self.assembler = assembler
        self.stats = WorkerStats()
        self._ingest = ingest
        self._release = release
        self._on_trace = on_trace
        self.max_spans = max_queue_spans
        self.max_bytes = max_queue_bytes
        self._queue: deque[tuple[T, int]] = deque()
        self._queued_spans = 0
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flush_requests: deque[threading.Event] = deque()
        self._poll = poll_interval_s
        self._stopping = False
        self._closed = False
        # Judge calls run off this thread: only when a scorer escalates to a judge.
        self.judges = judges if judges is not None else (JudgePool() if pipeline.defers else None)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def queue_size(self) -> int:
        """Spans waiting in the queue."""
        return self._queued_spans

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    @property
    def queue_bytes(self) -> int:
        return self._queued_bytes

    def fits(self, spans: int, size: int) -> bool:
        """Whether an item this large could ever be queued (else: a permanent error, not a retry)."""
        return spans <= self.max_spans and size <= self.max_bytes

    def offer(self, item: T, spans: int = 1, *, size: int = 0, refuse_when_full: bool = False) -> bool:
        """O(1): queue an item holding ``spans`` spans and ``size`` bytes, or count why not. Never blocks.

        With ``refuse_when_full`` a full queue refuses the item (the caller tells its sender to retry)
        instead of dropping it."""
        with self._lock:
            if self._closed:
                self.stats.drop(DROP_SHUTDOWN, spans)
                return False
            if self._queued_spans + spans > self.max_spans or self._queued_bytes + size > self.max_bytes:
                if refuse_when_full:
                    self.stats.refused += spans
                else:
                    self.stats.drop(DROP_QUEUE_FULL, spans)
                return False
            self._queue.append((item, spans))
            self._queued_spans += spans
            self._queued_bytes += size
            self.stats.spans_received += spans
            wake = self._queued_spans >= 4096
        if wake:
            self._wake.set()
        return True

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Score everything received so far, complete or not; True when done within the timeout."""
        if not self._thread.is_alive():
            return False
        started = time.monotonic()
        done = threading.Event()
        self._flush_requests.append(done)
        self._wake.set()
        if not done.wait(timeout_s):
            return False
        return self.judges is None or self.judges.drain(max(0.0, timeout_s - (time.monotonic() - started)))

    def close(self, timeout_s: float = 30.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.flush(timeout_s)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=timeout_s)
        if self.judges is not None:
            self.judges.close(timeout_s)

    def _run(self) -> None:
        # Scoring must not trace itself: a judge's LLM call, or any instrumented client a scorer uses,
        # would otherwise come back as an interaction of its own (as the SDK's exporters suppress).
        with suppress_instrumentation():
            self._loop()

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self._poll)
            self._wake.clear()
            requests = []
            while self._flush_requests:
                requests.append(self._flush_requests.popleft())
            try:
                self._step(flush_all=bool(requests))
            except Exception:  # the worker must survive anything a span can do to it
                logger.exception("behaviour processor step failed")
            for request in requests:
                request.set()

    def _spend(self, *spent: tuple[str, float]) -> None:
        with self._lock:
            for step, seconds in spent:
                self.stats.spend(step, seconds)

    def _step(self, flush_all: bool) -> None:
        clock = _cpu_clock
        started = clock()
        now = time.monotonic()
        with self._lock:  # take what is queued in one go: producers never wait on the worker
            queue, self._queue = self._queue, deque()
            self._queued_spans = self._queued_bytes = 0
        for item, spans in queue:
            try:
                self._ingest(item, self.assembler, now)
            except Exception as exc:
                BAD_INPUT.record(
                    UNREADABLE_SPAN, f"{spans} span(s) could not be ingested ({type(exc).__name__})", spans
                )
                logger.debug("could not ingest %d span(s)", spans, exc_info=True)
                with self._lock:
                    self.stats.drop(DROP_INVALID, spans)
        traces = self.assembler.pop_all() if flush_all else self.assembler.pop_ready(now)
        self._spend((STEP_INGEST, clock() - started))
        for start in range(0, len(traces), BATCH_TRACES):
            began = clock()
            batch = [records for items in traces[start : start + BATCH_TRACES] if (records := self._records(items))]
            self._spend((STEP_READ, clock() - began))
            try:
                self.process_traces(batch)
            except Exception:
                # Sinks and hooks are isolated where they are called: what reaches here is scoring
                # itself, before anything of the batch was delivered.
                logger.exception("behaviour processor failed on a batch of %d trace(s)", len(batch))
                with self._lock:
                    self.stats.drop(DROP_FAILED, sum(len(spans) for spans in batch))

    def _records(self, items: Sequence[Any]) -> list[SpanRecord]:
        """A released trace's spans as records; one that cannot be read is counted and left out."""
        records = []
        for item in items:
            try:
                records.append(self._release(item))
            except Exception as exc:
                BAD_INPUT.record(UNREADABLE_SPAN, f"a span could not be read ({type(exc).__name__})")
                logger.debug("could not read a span", exc_info=True)
                with self._lock:
                    self.stats.drop(DROP_INVALID)
        return records

    def process_traces(self, traces: Sequence[Sequence[SpanRecord]]) -> list[list[Evaluation]]:
        """:meth:`process_trace` of each trace, one step at a time over all of them: every trace's
        answers assembled, then all scored (:meth:`ScoringPipeline.score_many`), then delivered trace
        by trace in order (the same code running over many inputs in a row costs less per answer than
        each trace's steps in turn: ~15 % for the steps, ~12 % more for the scorers). With judges,
        trace by trace."""
        if self.judges is not None:
            return [self.process_trace(spans) for spans in traces]
        clock = _cpu_clock
        started = clock()
        built = [self._assembled(spans) for spans in traces]
        read = clock()
        # Scored scorer by scorer over the whole batch, then split back by trace.
        flat = iter(self.pipeline.score_many([i for interactions in built for i in interactions]))
        scored = [[next(flat) for _ in interactions] for interactions in built]
        scoring = clock()
        for spans, evaluations in zip(traces, scored, strict=True):
            for evaluation in evaluations:
                self.pipeline.deliver(evaluation)
            self._done(spans, evaluations)
        self._spend((STEP_READ, read - started), (STEP_SCORE, scoring - read), (STEP_DELIVER, clock() - scoring))
        return scored

    def _assembled(self, spans: Sequence[SpanRecord]) -> list[Interaction]:
        """The trace's interactions; a trace that cannot be assembled (a bug, not bad input: readers
        absorb that) is counted and passed on unscored, and costs no other trace of its batch."""
        try:
            return build_interactions(spans, self.read_options)
        except Exception as exc:
            # Counted per span, as every unreadable_span is.
            BAD_INPUT.record(
                UNREADABLE_SPAN,
                f"a trace of {len(spans)} span(s) could not be assembled ({type(exc).__name__})",
                len(spans),
            )
            logger.debug("could not assemble a trace", exc_info=True)
            return []

    def process_trace(self, spans: Sequence[SpanRecord]) -> list[Evaluation]:
        """Score a trace's answers and deliver them. Returns what was delivered, except when a judge
        still has to speak: then the cheap, provisional evaluations (the judge thread delivers the
        final ones; sinks and ``on_trace`` only ever see those)."""
        if self.judges is None:
            return self.process_traces([spans])[0]
        clock = _cpu_clock
        started = clock()
        interactions = self._assembled(spans)
        read = clock()
        deferred: list[list[Deferred]] = [[] for _ in interactions]
        evaluations = [self.pipeline.score(i, d) for i, d in zip(interactions, deferred, strict=True)]
        self._spend((STEP_READ, read - started), (STEP_SCORE, clock() - read))
        if not any(deferred):
            self._deliver(spans, evaluations)
            return evaluations
        if self.judges.submit(lambda: self._judged(spans, evaluations, deferred)):
            return evaluations  # provisional: the judge thread delivers the final ones
        # The judges' backlog is full: no escalation now, the cheap scores stand (counted "throttled").
        final = self._finish(evaluations, deferred, THROTTLED)
        self._deliver(spans, final)
        return final

    def _finish(self, evaluations: list[Evaluation], deferred: list[list[Deferred]], decision: str) -> list[Evaluation]:
        out = []
        for evaluation, waiting in zip(evaluations, deferred, strict=True):
            if waiting:
                done = {d.name: self._verdict(evaluation.interaction, d, decision) for d in waiting}
                evaluation = self.pipeline.rescore(evaluation, done)
            out.append(evaluation)
        return out

    def _verdict(self, interaction: Interaction, deferred: Deferred, decision: str) -> Score:
        """The judge's score, or the cheap one (``judge_failed``) when the judge raised: the answer
        is delivered either way, the error counted as the scorer's."""
        try:
            return deferred.cascade.finish(interaction, deferred.cheap, decision)
        except Exception:
            logger.exception("judge for %s failed on trace %s", deferred.name, interaction.trace_id)
            self.pipeline.count_scorer_error(deferred.name)
            return deferred.cascade.finish(interaction, deferred.cheap, JUDGE_FAILED)

    def _judged(
        self, spans: Sequence[SpanRecord], evaluations: list[Evaluation], deferred: list[list[Deferred]]
    ) -> None:
        # Closing ran out of time: what still waits is finished without its judge, never dropped.
        abandoning = self.judges is not None and self.judges.abandoning
        started = _cpu_clock()  # the judge's call and the rescoring, on this (the judge's) thread
        final = self._finish(evaluations, deferred, JUDGE_FAILED if abandoning else ESCALATED)
        self._spend((STEP_SCORE, _cpu_clock() - started))
        self._deliver(spans, final)

    def _deliver(self, spans: Sequence[SpanRecord], evaluations: list[Evaluation]) -> None:
        started = _cpu_clock()
        for evaluation in evaluations:
            self.pipeline.deliver(evaluation)
        self._done(spans, evaluations)
        self._spend((STEP_DELIVER, _cpu_clock() - started))

    def _done(self, spans: Sequence[SpanRecord], evaluations: list[Evaluation]) -> None:
        self.stats.traces_processed += 1
        ids = {s.span_id for s in spans}
        if any(s.parent_span_id is not None and not s.parent_is_remote and s.parent_span_id not in ids for s in spans):
            self.stats.traces_missing_parent += 1
        if self._on_trace is not None:
            try:
                self._on_trace(spans, evaluations)
            except Exception:
                logger.exception("trace hook failed")
