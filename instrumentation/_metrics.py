"""The GenAI client metrics of the semantic conventions, with their advised buckets."""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from typing import Any

from opentelemetry.metrics import Histogram, MeterProvider, get_meter

import mre

DURATION = "gen_ai.client.operation.duration"
TOKEN_USAGE = "gen_ai.client.token.usage"
logger = logging.getLogger("mre.instrumentation")
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


class Instruments:
    """The histograms, fed off the application's thread.

    ``Histogram.record`` hashes the attributes and updates aggregations under a lock: tens of
    microseconds per call. The app's thread only appends to a bounded deque; a daemon thread records.
    A full deque drops the measurement and counts it (``dropped``).
    """

    MAX_PENDING = 50_000

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

        self.dropped = 0
        self._pending: deque[tuple[Histogram, float, dict[str, Any]]] = deque()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mre-genai-metrics", daemon=True)
        self._thread.start()
        atexit.register(self.flush)

    def record(self, histogram: Histogram, value: float, attributes: dict[str, Any]) -> None:
        if len(self._pending) >= self.MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append((histogram, value, attributes))
        if len(self._pending) >= 256:
            self._wake.set()

    def flush(self) -> None:
        """Record everything pending now (tests, shutdown)."""
        while self._pending:
            try:
                histogram, value, attributes = self._pending.popleft()
            except IndexError:
                return
            try:
                histogram.record(value, attributes)
            except Exception:  # a metrics SDK error must not stop the recorder
                logger.debug("metric record failed", exc_info=True)

    def _run(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            self.flush()
