"""One call to score in-process: a BehaviorSpanProcessor on the app's TracerProvider, wired to
Prometheus metrics and evaluation log records, optionally serving ``/metrics``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry._logs import LoggerProvider, get_logger_provider
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from prometheus_client import CollectorRegistry, start_http_server

from mre.exporters.evaluation_events import EvaluationEventSink
from mre.exporters.prometheus import ProcessorHealthCollector, PrometheusSink, add_behaviour_monitors
from mre.metadata import metadata_keys_from_env
from mre.processor.calibration import CalibrationMonitor
from mre.processor.drift import DriftMonitor
from mre.processor.feedback_intake import FeedbackLogProcessor
from mre.processor.interactions import ReadOptions
from mre.processor.pipeline import EvaluationSink, ScoringPipeline
from mre.processor.scorers import Scorer
from mre.processor.span_processor import BehaviorSpanProcessor
from mre.slo import SLO


@dataclass
class EmbeddedSetup:
    processor: BehaviorSpanProcessor
    registry: CollectorRegistry
    metrics: PrometheusSink
    drift: DriftMonitor
    calibration: CalibrationMonitor
    metrics_port: int | None = None
    _server: Any = field(default=None, repr=False)

    def close(self) -> None:
        self.processor.shutdown()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def install_embedded(
    tracer_provider: TracerProvider,
    *,
    registry: CollectorRegistry | None = None,
    logger_provider: LoggerProvider | None = None,
    scorers: Mapping[str, Scorer] | None = None,
    slos: Sequence[SLO] | None = None,
    extra_sinks: Sequence[EvaluationSink] = (),
    metrics_addr: str = "127.0.0.1",
    metrics_port: int | None = None,
    default_service: str = "unknown",
    grace_s: float = 0.5,
    export: SpanProcessor | None = None,
    strip_content: bool = False,
    metadata_keys: Mapping[str, str] | None = None,
) -> EmbeddedSetup:
    """Attach the behaviour processor; with ``metrics_port`` (0 picks a free port) serve /metrics.

    ``export`` is the span processor that sends spans on (a BatchSpanProcessor around your exporter):
    give it here instead of to the TracerProvider, and spans leave only once scored, enriched with
    ``mre.score.*``; with ``strip_content`` they leave with no prompt, completion, query or document
    text, and the evaluation records carry text-free explanations (score then strip).

    ``metadata_keys`` maps the names scoring reads to your index's (default: ``MRE_METADATA_KEYS``).

    Human verdicts sent with ``mre.feedback`` through the same (SDK) LoggerProvider are matched with
    the automated ones: ``mre_human_verdicts_total`` and ``mre_human_agreement_*``."""
    registry = registry if registry is not None else CollectorRegistry()
    metrics = PrometheusSink(registry, default_service=default_service)
    sinks: list[EvaluationSink] = [metrics, EvaluationEventSink(logger_provider, strip_content), *extra_sinks]
    pipeline = ScoringPipeline(scorers, slos, sinks)
    monitors = add_behaviour_monitors(pipeline, registry, labels=metrics.labels)
    keys = metadata_keys if metadata_keys is not None else metadata_keys_from_env()
    processor = BehaviorSpanProcessor(
        pipeline,
        grace_s=grace_s,
        downstream=export,
        strip_content=strip_content,
        read_options=ReadOptions(metadata_keys=dict(keys)),
    )
    registry.register(ProcessorHealthCollector(processor))
    # With an SDK LoggerProvider (given, or the global one) `mre.feedback` verdicts reach us in-process.
    add_log_processor = getattr(logger_provider or get_logger_provider(), "add_log_record_processor", None)
    if add_log_processor is not None:
        add_log_processor(FeedbackLogProcessor(monitors.calibration))
    tracer_provider.add_span_processor(processor)
    setup = EmbeddedSetup(
        processor=processor, registry=registry, metrics=metrics, drift=monitors.drift, calibration=monitors.calibration
    )
    if metrics_port is not None:
        server, _thread = start_http_server(metrics_port, addr=metrics_addr, registry=registry)
        setup._server = server
        setup.metrics_port = server.server_address[1]
    return setup
