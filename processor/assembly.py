"""Trace assembly: group spans by trace id and release a trace when it is complete.

A trace is complete when its local root has ended and a grace period has passed (children of other
threads may end a moment later), or when it has waited ``timeout_s`` without a root. Memory is bounded
in traces and in bytes; what is evicted, dropped or late is counted, never silent.

Bytes are charged by what is actually held. Spans decoded from one OTLP request share its buffer
(upb keeps the whole request alive while any of its spans is referenced), so such spans come with an
*owner* (the request's :class:`Arena`): the request's size is charged once while any of its spans
is held, and released when the last one goes. A request whose spans were mostly invalid, or whose
other traces were scored long ago, is therefore charged in full, and the byte bound evicts what pins
it. Spans over the per-trace limit are not kept and charge nothing.

Release is O(ready): roots are queued in the order they end, timeouts are found from the oldest
pending trace; no tick scans every pending trace.
"""

from __future__ import annotations

from collections import OrderedDict, deque
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


class Arena:
    """The memory several held items share (one OTLP request): charged while any item is held."""

    __slots__ = ("bytes", "charged", "live")

    def __init__(self, size: int, items: int) -> None:
        self.bytes = size
        self.live = items  # items not yet let go (held, or still to be added)
        self.charged = False


@dataclass
class _PendingTrace:
    first_seen: float
    spans: list[Any] = field(default_factory=list)
    bytes: int = 0  # charged to this trace alone (items without an owner)
    owners: list[tuple[Arena, int]] = field(default_factory=list)  # (arena, items of it held here)
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
        self._roots: deque[tuple[float, Hashable]] = deque()  # (root ended at, trace) in time order
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
        self.add_items(trace_key, [item], is_root, size, now)

    def add_items(
        self, trace_key: Hashable, items: list[Any], has_root: bool, size: int, now: float, owner: Arena | None = None
    ) -> None:
        """Several spans of one trace at once (a request's spans grouped by trace id): O(1) per group.

        ``size`` is charged to the trace; with ``owner``, the owner's bytes are charged instead
        (once for all the traces holding its items) and ``size`` is ignored."""
        if trace_key in self._released:
            self.stats.spans_late += len(items)
            self._let_go(owner, len(items))
            return
        trace = self._pending.get(trace_key)
        if trace is None:
            trace = self._pending[trace_key] = _PendingTrace(first_seen=now)
        room = self.max_spans_per_trace - len(trace.spans)
        if room < len(items):
            dropped = len(items) - max(room, 0)
            self.stats.spans_over_trace_limit += dropped
            self._let_go(owner, dropped)
            size = size * max(room, 0) // len(items)  # what is not kept is not charged
            items = items[: max(room, 0)]
        if items:
            trace.spans.extend(items)
            if owner is None:
                trace.bytes += size
                self._bytes += size
            else:
                if not owner.charged:
                    owner.charged = True
                    self._bytes += owner.bytes
                trace.owners.append((owner, len(items)))
        if has_root and items:
            trace.root_ended_at = now
            self._roots.append((now, trace_key))
        if self._bytes > self.max_bytes or len(self._pending) > self.max_traces:
            self._enforce_bounds(keep=trace_key)

    def _let_go(self, owner: Arena | None, n: int) -> None:
        """``n`` items of ``owner`` are no longer held (released, evicted or never kept)."""
        if owner is None or n <= 0:
            return
        owner.live -= n
        if owner.live <= 0 and owner.charged:
            owner.charged = False
            self._bytes -= owner.bytes

    def pop_ready(self, now: float) -> list[list[Any]]:
        ready: list[Hashable] = []
        seen: set[Hashable] = set()
        roots = self._roots
        while roots and now - roots[0][0] >= self.grace_s:
            ended_at, key = roots.popleft()
            trace = self._pending.get(key)
            # A later root of the same trace moved its time on: that entry will come up again.
            if trace is not None and trace.root_ended_at == ended_at and key not in seen:
                seen.add(key)
                ready.append(key)
        for key, trace in self._pending.items():  # oldest first
            if now - trace.first_seen < self.timeout_s:
                break
            if key not in seen and trace.root_ended_at is None:
                seen.add(key)
                ready.append(key)
                self.stats.traces_timed_out += 1
        return [self._release(key) for key in ready]

    def pop_all(self) -> list[list[Any]]:
        """Release everything (flush and shutdown): a partial trace is better scored than lost."""
        self._roots.clear()
        return [self._release(t) for t in list(self._pending)]

    def _drop(self, trace_id: Hashable) -> _PendingTrace:
        trace = self._pending.pop(trace_id)
        self._bytes -= trace.bytes
        for owner, n in trace.owners:
            self._let_go(owner, n)
        return trace

    def _release(self, trace_id: Hashable) -> list[Any]:
        trace = self._drop(trace_id)
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
            trace = self._drop(oldest_id)
            self.stats.traces_evicted += 1
            self.stats.spans_evicted += len(trace.spans)
