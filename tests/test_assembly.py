"""Trace assembly: complete traces are released once, bounds hold, and nothing is lost silently."""

from __future__ import annotations

import pytest

from mre.processor.assembly import TraceAssembler
from mre.processor.spans import SpanRecord


def span(trace: int, sid: int, parent: int | None, attrs: dict | None = None, size: int = 0) -> SpanRecord:
    attributes = dict(attrs or {})
    if size:
        attributes["blob"] = "x" * size
    return SpanRecord(trace, sid, parent, f"s{sid}", 0, 1, attributes)


def test_a_trace_is_released_after_its_root_ends_plus_grace() -> None:
    a = TraceAssembler(grace_s=1.0)
    a.add(span(1, 2, 1), now=0.0)
    a.add(span(1, 1, None), now=0.5)
    assert a.pop_ready(now=1.0) == []
    (spans,) = a.pop_ready(now=1.6)
    assert [s.span_id for s in spans] == [2, 1]
    assert a.pending_traces == 0


def test_children_arriving_after_the_root_within_grace_belong_to_the_trace() -> None:
    a = TraceAssembler(grace_s=1.0)
    a.add(span(1, 1, None), now=0.0)
    a.add(span(1, 3, 1), now=0.9)
    (spans,) = a.pop_ready(now=1.0)
    assert {s.span_id for s in spans} == {1, 3}


def test_a_span_with_a_remote_parent_is_the_local_root() -> None:
    a = TraceAssembler(grace_s=0.0)
    a.add(SpanRecord(1, 5, 4, "server", 0, 1, {}, parent_is_remote=True), now=0.0)
    assert len(a.pop_ready(now=0.0)) == 1


def test_a_trace_without_root_is_released_on_timeout_and_counted() -> None:
    a = TraceAssembler(grace_s=0.0, timeout_s=10.0)
    a.add(span(1, 2, 1), now=0.0)
    assert a.pop_ready(now=9.9) == []
    assert len(a.pop_ready(now=10.0)) == 1
    assert a.stats.traces_timed_out == 1


def test_spans_after_release_are_counted_as_late() -> None:
    a = TraceAssembler(grace_s=0.0)
    a.add(span(1, 1, None), now=0.0)
    a.pop_ready(now=0.0)
    a.add(span(1, 2, 1), now=1.0)
    assert a.stats.spans_late == 1 and a.pending_traces == 0


def test_the_trace_bound_evicts_the_oldest_and_counts_it() -> None:
    a = TraceAssembler(max_traces=2)
    for trace in (1, 2, 3):
        a.add(span(trace, 10 + trace, 99), now=float(trace))
    assert a.pending_traces == 2
    assert a.stats.traces_evicted == 1 and a.stats.spans_evicted == 1
    assert {s[0].trace_id for s in a.pop_all()} == {2, 3}


def test_the_byte_bound_holds_under_huge_attributes() -> None:
    a = TraceAssembler(max_bytes=50_000)
    for trace in range(1, 20):
        a.add(span(trace, trace, 99, size=10_000), now=0.0)
    assert a.pending_bytes <= 50_000
    assert a.stats.traces_evicted >= 14


def test_a_trace_cannot_grow_without_bound() -> None:
    a = TraceAssembler(max_spans_per_trace=3)
    for sid in range(5):
        a.add(span(1, sid + 2, 1), now=0.0)
    assert a.stats.spans_over_trace_limit == 2


def test_impossible_bounds_are_rejected_at_construction() -> None:
    with pytest.raises(ValueError):
        TraceAssembler(max_traces=0)
