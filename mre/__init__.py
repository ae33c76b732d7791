"""mre-otel: Model Reliability Engineering on OpenTelemetry.

The core package holds what every part shares: attribute names (:mod:`mre.semconv`), the data model
(:mod:`mre.model`), the SLO definitions (:mod:`mre.slo`) and the command line (:mod:`mre.cli`).
Instrumentation lives in :mod:`mre.instrumentation`, scoring in :mod:`mre.processor`, outputs in
:mod:`mre.exporters`.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # ``mre.feedback(...)`` without importing OpenTelemetry for every ``import mre``.
    if name == "feedback":
        from mre.human_feedback import feedback

        return feedback
    raise AttributeError(f"module 'mre' has no attribute {name!r}")
