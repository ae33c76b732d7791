"""The behaviour processor: assembly, dialects, scorers and the pipeline both modes share."""

from mre.processor.assembly import AssemblyStats, TraceAssembler
from mre.processor.interactions import build_interactions
from mre.processor.pipeline import EvaluationSink, ScoringPipeline
from mre.processor.span_processor import BehaviorSpanProcessor
from mre.processor.spans import SpanRecord, from_readable_span
from mre.processor.worker import TraceWorker, WorkerStats

__all__ = [
    "AssemblyStats",
    "BehaviorSpanProcessor",
    "EvaluationSink",
    "ScoringPipeline",
    "SpanRecord",
    "TraceAssembler",
    "TraceWorker",
    "WorkerStats",
    "build_interactions",
    "from_readable_span",
]
