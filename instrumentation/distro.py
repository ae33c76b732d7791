"""Distro and configurator for ``opentelemetry-instrument``: nothing but our package is needed.

``opentelemetry-instrument python app.py`` loads :class:`MreDistro` (entry point group
``opentelemetry_distro``) and :class:`MreConfigurator` (``opentelemetry_configurator``): the SDK is set
up for traces, metrics and logs over OTLP (gRPC) unless ``OTEL_*_EXPORTER`` say otherwise, and GenAI
content capture is on (scoring needs the text) unless
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` turns it off.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from mre.instrumentation._settings import set_default_capture

OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
OTEL_METRICS_EXPORTER = "OTEL_METRICS_EXPORTER"
OTEL_LOGS_EXPORTER = "OTEL_LOGS_EXPORTER"
OTEL_EXPORTER_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"


class MreDistro(BaseDistro):
    def _configure(self, **kwargs: Any) -> None:
        for key in (OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER):
            os.environ.setdefault(key, "otlp")
        os.environ.setdefault(OTEL_EXPORTER_OTLP_PROTOCOL, "grpc")
        set_default_capture(True)


class MreConfigurator(_OTelSDKConfigurator):
    """The SDK's own configurator, registered under our name so no other distro is needed."""
