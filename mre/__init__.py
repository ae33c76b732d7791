"""mre-otel: Model Reliability Engineering on OpenTelemetry.

The core package holds what every part shares: attribute names (:mod:`mre.semconv`), the data model
(:mod:`mre.model`), the SLO definitions (:mod:`mre.slo`) and the command line (:mod:`mre.cli`).
Instrumentation lives in :mod:`mre.instrumentation`, scoring in :mod:`mre.processor`, outputs in
:mod:`mre.exporters`.
"""

__version__ = "0.1.0"
