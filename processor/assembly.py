"""Trace assembly: group spans by trace id and release a trace when it is complete.

A trace is complete when its local root has ended and a grace period has passed (children of other
threads may end a moment later), or when it has waited ``timeout_s`` without a root. Memory is bounded
in traces and in bytes; what is evicted, dropped or late is counted, never silent.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from mre.processor.spans import SpanRecord


@dataclass
class AssemblyStats:
    traces_completed: int = 0
    traces_timed_out: int = 0
    traces_evicted: int = 0  # pushed out by the trace or byte bound before completing
    spans_evicted: int = 0
    spans_late: int = 0  # arrived for a trace that was already released
    spans_over_trace_limit: int = 0


@dataclass
class _PendingTrace:
    first_seen: float
    spans: list[Any] = field(default_factory=list)
    bytes: int = 0
    root_ended_at: float | None = None


class TraceAssembler:
    """Not thread-safe: one worker owns it."""

    def __init__(
        self,
        *,
        grace_s: float = 0.5,
        timeout_s: float = 30.0,
        max_traces: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
        max_spans_per_trace: int = 2_000,
        remember_released: int = 20_000,
    ) -> None:
        if grace_s < 0 or timeout_s <= 0 or max_traces <= 0 or max_bytes <= 0:
            raise ValueError("assembly bounds must be positive")
        self.grace_s = grace_s
        self.timeout_s = timeout_s
        self.max_traces = max_traces
        self.max_bytes = max_bytes
        self.max_spans_per_trace = max_spans_per_trace
        self.stats = AssemblyStats()
        self._pending: OrderedDict[Hashable, _PendingTrace] = OrderedDict()
        self._bytes = 0
        # Released trace ids, so a span that comes after its trace left is counted as late.
        self._released: OrderedDict[Hashable, None] = OrderedDict()
        self._remember_released = remember_released

    @property
    def pending_traces(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def add(self, span: SpanRecord, now: float) -> None:
        self.add_item(span.trace_id, span, span.is_local_root, span.approx_bytes(), now)

    def add_item(self, trace_key: Hashable, item: Any, is_root: bool, size: int, now: float) -> None:
        """The hot path of ingest: O(1), no conversion (items are converted when released)."""
        if trace_key in self._released:
            self.stats.spans_late += 1
            return
        trace = self._pending.get(trace_key)
        if trace is None:
            trace = self._pending[trace_key] = _PendingTrace(first_seen=now)
        elif len(trace.spans) >= self.max_spans_per_trace:
            self.stats.spans_over_trace_limit += 1
            return
        trace.spans.append(item)
        trace.bytes += size
        self._bytes += size
        if is_root:
            trace.root_ended_at = now
        if self._bytes > self.max_bytes or len(self._pending) > self.max_traces:
            self._enforce_bounds(keep=trace_key)

    def add_items(self, trace_key: Hashable, items: list[Any], has_root: bool, size: int, now: float) -> None:
        """Several spans of one trace at once (a request's spans grouped by trace id): O(1) per group."""
        if trace_key in self._released:
            self.stats.spans_late += len(items)
            return
        trace = self._pending.get(trace_key)
        if trace is None:
            trace = self._pending[trace_key] = _PendingTrace(first_seen=now)
        room = self.max_spans_per_trace - len(trace.spans)
        if room < len(items):
            self.stats.spans_over_trace_limit += len(items) - max(room, 0)
            items = items[: max(room, 0)]
        trace.spans.extend(items)
        trace.bytes += size
        self._bytes += size
        if has_root:
            trace.root_ended_at = now
        if self._bytes > self.max_bytes or len(self._pending) > self.max_traces:
            self._enforce_bounds(keep=trace_key)

    def pop_ready(self, now: float) -> list[list[Any]]:
        ready: list[Hashable] = []
        for trace_id, trace in self._pending.items():
            if trace.root_ended_at is not None and now - trace.root_ended_at >= self.grace_s:
                ready.append(trace_id)
            elif now - trace.first_seen >= self.timeout_s:
                ready.append(trace_id)
                self.stats.traces_timed_out += 1
        return [self._release(t) for t in ready]

    def pop_all(self) -> list[list[Any]]:
        """Release everything (flush and shutdown): a partial trace is better scored than lost."""
        return [self._release(t) for t in list(self._pending)]

    def _release(self, trace_id: Hashable) -> list[Any]:
        trace = self._pending.pop(trace_id)
        self._bytes -= trace.bytes
        self.stats.traces_completed += 1
        self._released[trace_id] = None
        if len(self._released) > self._remember_released:
            self._released.popitem(last=False)
        return trace.spans

    def _enforce_bounds(self, keep: Hashable) -> None:
        while (len(self._pending) > self.max_traces or self._bytes > self.max_bytes) and len(self._pending) > 1:
            oldest_id = next(iter(self._pending))
            if oldest_id == keep:
                self._pending.move_to_end(keep)
                oldest_id = next(iter(self._pending))
            trace = self._pending.pop(oldest_id)
            self._bytes -= trace.bytes
            self.stats.traces_evicted += 1
            self.stats.spans_evicted += len(trace.spans)
