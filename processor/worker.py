"""The shared engine of both modes: a bounded queue, a daemon worker, assembly, scoring.

Producers (the SDK's ``on_end`` in embedded mode, gRPC handlers in the service) only ``offer`` items;
the worker converts them to :class:`SpanRecord`, assembles traces, scores each interaction and hands
every released trace with its evaluations to ``on_trace`` (forwarding, in the service). A full queue
drops and counts; nothing blocks a producer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from mre.processor.assembly import TraceAssembler
from mre.processor.interactions import build_interactions
from mre.processor.pipeline import ScoringPipeline
from mre.processor.spans import SpanRecord

from mre.model import Evaluation

logger = logging.getLogger(__name__)

T = TypeVar("T")

DROP_QUEUE_FULL = "queue_full"
DROP_SHUTDOWN = "shutdown"
DROP_INVALID = "invalid"

TraceHook = Callable[[Sequence[SpanRecord], Sequence[Evaluation]], None]


@dataclass
class WorkerStats:
    spans_received: int = 0
    spans_dropped: dict[str, int] = field(default_factory=dict)
    traces_processed: int = 0
    refused: int = 0

    def drop(self, reason: str, n: int = 1) -> None:
        self.spans_dropped[reason] = self.spans_dropped.get(reason, 0) + n


class TraceWorker(Generic[T]):
    def __init__(
        self,
        convert: Callable[[T], SpanRecord],
        pipeline: ScoringPipeline,
        assembler: TraceAssembler,
        *,
        max_queue_size: int = 20_000,
        poll_interval_s: float = 0.1,
        on_trace: TraceHook | None = None,
        name: str = "mre-trace-worker",
    ) -> None:
        if max_queue_size <= 0:
            raise ValueError("max_queue_size must be positive")
        self.pipeline = pipeline
        self.assembler = assembler
        self.stats = WorkerStats()
        self._convert = convert
        self._on_trace = on_trace
        self._max_queue = max_queue_size
        self._queue: deque[T] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flush_requests: deque[threading.Event] = deque()
        self._poll = poll_interval_s
        self._stopping = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def queue_size(self) -> int:
        return len(self._queue)

    def offer(self, item: T) -> bool:
        """O(1): queue the item, or count why it was dropped. Never blocks."""
        with self._lock:
            if self._closed:
                self.stats.drop(DROP_SHUTDOWN)
                return False
            if len(self._queue) >= self._max_queue:
                self.stats.drop(DROP_QUEUE_FULL)
                return False
            self.stats.spans_received += 1
            self._queue.append(item)
            return True

    def offer_many(self, items: Sequence[T]) -> int:
        """Queue as many as fit; returns how many were accepted."""
        with self._lock:
            if self._closed:
                self.stats.drop(DROP_SHUTDOWN, len(items))
                return 0
            room = max(0, self._max_queue - len(self._queue))
            accepted = items[:room]
            self._queue.extend(accepted)
            self.stats.spans_received += len(accepted)
            if len(items) > room:
                self.stats.drop(DROP_QUEUE_FULL, len(items) - room)
        if len(accepted) >= 512:
            self._wake.set()
        return len(accepted)

    def offer_all(self, items: Sequence[T]) -> bool:
        """Queue all items or none (so a retried request is not half-duplicated)."""
        with self._lock:
            if self._closed:
                self.stats.drop(DROP_SHUTDOWN, len(items))
                return False
            if len(self._queue) + len(items) > self._max_queue:
                self.stats.refused += len(items)  # the sender is told to retry: refused, not lost
                return False
            self._queue.extend(items)
            self.stats.spans_received += len(items)
        if len(self._queue) >= 512:
            self._wake.set()
        return True

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Score everything received so far, complete or not; True when done within the timeout."""
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        self._flush_requests.append(done)
        self._wake.set()
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.flush(timeout_s)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=timeout_s)

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
            item = self._queue.popleft()
            try:
                record = self._convert(item)
            except Exception:
                logger.exception("could not read a span; dropped")
                with self._lock:
                    self.stats.drop(DROP_INVALID)
                continue
            self.assembler.add(record, now)
        traces = self.assembler.pop_all() if flush_all else self.assembler.pop_ready(now)
        for spans in traces:
            self.process_trace(spans)

    def process_trace(self, spans: Sequence[SpanRecord]) -> list[Evaluation]:
        evaluations = [self.pipeline.process(i) for i in build_interactions(spans)]
        self.stats.traces_processed += 1
        if self._on_trace is not None:
            try:
                self._on_trace(spans, evaluations)
            except Exception:
                logger.exception("trace hook failed")
        return evaluations
