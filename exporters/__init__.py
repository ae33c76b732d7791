"""Outputs of the behaviour processor: Prometheus metrics and evaluation log records."""

from mre.exporters.embedded import EmbeddedSetup, install_embedded
from mre.exporters.evaluation_events import EvaluationEventSink
from mre.exporters.prometheus import ProcessorHealthCollector, PrometheusSink

__all__ = [
    "EmbeddedSetup",
    "EvaluationEventSink",
    "ProcessorHealthCollector",
    "PrometheusSink",
    "install_embedded",
]
