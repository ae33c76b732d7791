"""Wiring of `mre serve`: the OTLP service, its metrics and health endpoint, and forwarding."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from mre.exporters.forward import OtlpForwarder
from mre.exporters.http import serve_http, split_hostport
from mre.exporters.prometheus import (
    ForwarderHealthCollector,
    ProcessorHealthCollector,
    PrometheusSink,
    add_behaviour_monitors,
)
from mre.processor.pipeline import EvaluationSink, ScoringPipeline
from mre.processor.scorers import Scorer
from mre.processor.service import DEFAULT_METRICS, BehaviorService, ServiceConfig
from mre.slo import SLO

logger = logging.getLogger(__name__)


@dataclass
class RunningService:
    service: BehaviorService
    registry: CollectorRegistry
    metrics_port: int
    forwarder: OtlpForwarder | None
    _http: Any

    @property
    def port(self) -> int:
        return self.service.port

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Stop listening, score what is held, forward it, then close the HTTP side."""
        forwarder = self.forwarder
        self.service.stop(on_drained=(lambda: forwarder.close(drain_timeout_s)) if forwarder else None)
        self._http.shutdown()
        self._http.server_close()


def start_service(
    config: ServiceConfig,
    *,
    metrics: str = DEFAULT_METRICS,
    forward: str | None = None,
    forward_insecure: bool = True,
    forward_headers: Sequence[tuple[str, str]] = (),
    forward_queue_items: int = 200_000,
    strip_content: bool = False,
    scorers: Mapping[str, Scorer] | None = None,
    slos: Sequence[SLO] | None = None,
    extra_sinks: Sequence[EvaluationSink] = (),
    registry: CollectorRegistry | None = None,
    feedback_traces: int = 20_000,
) -> RunningService:
    # Auto-described: every collector is registered under the names it exports (its collect() once,
    # now), so a clash of names is refused, and a scrape that asks for some (`/metrics?name[]=...`)
    # gets them whichever collector makes them, and runs only those collectors (prometheus_client
    # leaves out a collector it cannot name): a progress poll runs no drift test.
    registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
    metrics_sink = PrometheusSink(registry)
    sinks: list[EvaluationSink] = [metrics_sink, *extra_sinks]
    forwarder = None
    if forward:
        forwarder = OtlpForwarder(
            forward,
            insecure=forward_insecure,
            headers=forward_headers,
            max_queue_items=forward_queue_items,
            strip_content=strip_content,
        )
        registry.register(ForwarderHealthCollector(forwarder))
    pipeline = ScoringPipeline(scorers, slos, sinks)
    monitors = add_behaviour_monitors(pipeline, registry, feedback_traces, labels=metrics_sink.labels)
    service = BehaviorService(
        config,
        pipeline,
        on_trace=forwarder.on_trace if forwarder else None,
        on_feedback=monitors.calibration.on_verdict,
    )
    registry.register(ProcessorHealthCollector(service.worker))
    host, port = split_hostport(metrics)
    http, metrics_port = serve_http(host, port, registry, service.healthy)
    service.start()
    logger.info("mre serve: OTLP gRPC on port %d, /metrics and /healthz on %s:%d", service.port, host, metrics_port)
    return RunningService(service, registry, metrics_port, forwarder, http)
