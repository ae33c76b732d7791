"""The GenAI client metrics of the semantic conventions, with their advised buckets."""

from __future__ import annotations

from opentelemetry.metrics import Histogram, MeterProvider, get_meter

import mre

DURATION = "gen_ai.client.operation.duration"
TOKEN_USAGE = "gen_ai.client.token.usage"
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


class Instruments:
    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = get_meter("mre.instrumentation", mre.__version__, meter_provider=meter_provider)
        self.duration: Histogram = meter.create_histogram(
            DURATION,
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.tokens: Histogram = meter.create_histogram(
            TOKEN_USAGE,
            unit="{token}",
            description="Measures number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
