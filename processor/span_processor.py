"""BehaviorSpanProcessor: score every answer inside the application's process.

``on_end`` only appends to a bounded queue (O(1), never blocks the app); a daemon worker converts,
assembles traces, scores and hands evaluations to the sinks. A full queue drops the span and counts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from mre.processor.assembly import TraceAssembler
from mre.processor.interactions import build_interactions
from mre.processor.pipeline import ScoringPipeline
from mre.processor.spans import SpanRecord, from_readable_span
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

logger = logging.getLogger(__name__)

DROP_QUEUE_FULL = "queue_full"
DROP_SHUTDOWN = "shutdown"
DROP_INVALID = "invalid"


@dataclass
class ProcessorStats:
    spans_received: int = 0
    spans_dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        self.spans_dropped[reason] = self.spans_dropped.get(reason, 0) + n


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
    ) -> None:
        if max_queue_size <= 0:
            raise ValueError("max_queue_size must be positive")
        self.pipeline = pipeline or ScoringPipeline()
        self.assembler = assembler or TraceAssembler(grace_s=grace_s, timeout_s=timeout_s)
        self.stats = ProcessorStats()
        self._max_queue = max_queue_size
        self._queue: deque[ReadableSpan] = deque()
        self._stats_lock = threading.Lock()
        self._wake = threading.Event()
        self._flush_requests: deque[threading.Event] = deque()
        self._poll = poll_interval_s
        self._stopping = False
        self._shutdown = False
        self._worker = threading.Thread(target=self._run, name="mre-behavior-processor", daemon=True)
        self._worker.start()

    # --- SpanProcessor ------------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        with self._stats_lock:
            if self._shutdown:
                self.stats.drop(DROP_SHUTDOWN)
                return
            if len(self._queue) >= self._max_queue:
                self.stats.drop(DROP_QUEUE_FULL)
                return
            self.stats.spans_received += 1
            self._queue.append(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Score everything received so far, complete or not; True when done within the timeout."""
        if not self._worker.is_alive():
            return False
        done = threading.Event()
        self._flush_requests.append(done)
        self._wake.set()
        return done.wait(timeout_millis / 1000)

    def shutdown(self) -> None:
        with self._stats_lock:
            if self._shutdown:
                return
            self._shutdown = True
        self.force_flush()
        self._stopping = True
        self._wake.set()
        self._worker.join(timeout=30)

    # --- worker -------------------------------------------------------------------------------
    @property
    def queue_size(self) -> int:
        return len(self._queue)

    def _run(self) -> None:
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

    def _step(self, flush_all: bool) -> None:
        now = time.monotonic()
        while self._queue:
            span = self._queue.popleft()
            try:
                record: SpanRecord = from_readable_span(span)
            except Exception:
                logger.exception("could not convert span %r", getattr(span, "name", "?"))
                with self._stats_lock:
                    self.stats.drop(DROP_INVALID)
                continue
            self.assembler.add(record, now)
        traces = self.assembler.pop_all() if flush_all else self.assembler.pop_ready(now)
        for spans in traces:
            for interaction in build_interactions(spans):
                self.pipeline.process(interaction)
