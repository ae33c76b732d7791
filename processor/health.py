"""Process-wide counters of bad input (malformed requests, attributes, spans), read by /metrics.

Bad input never raises past the edge that met it: it is logged once per kind per minute and counted
here, so an operator sees it in ``mre_processor_bad_input_total{kind}``.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("mre.processor")

MALFORMED_REQUEST = "malformed_request"
INVALID_SPAN = "invalid_span"
MALFORMED_ATTRIBUTE = "malformed_attribute"
OVERSIZED_ATTRIBUTE = "oversized_attribute"
UNAUTHENTICATED = "unauthenticated"
INVALID_FEEDBACK = "invalid_feedback"  # a human verdict record that cannot be read
OVERSIZED_REQUEST = "oversized_request"  # an OTLP/HTTP body over --max-message-bytes (before or after gzip)
CONCURRENCY_LIMIT = "concurrency_limit"  # an OTLP/HTTP request refused (503) while 16 were being read
UNREADABLE_SPAN = "unreadable_span"  # a span a dialect reader failed on (the rest of its trace is scored)


class BadInputCounter:
    def __init__(self, log_every_s: float = 60.0) -> None:
        self._counts: dict[str, int] = {}
        self._last_log: dict[str, float] = {}
        self._lock = threading.Lock()
        self._log_every = log_every_s

    def record(self, kind: str, message: str, n: int = 1) -> None:
        now = time.monotonic()
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + n
            should_log = now - self._last_log.get(kind, -1e9) >= self._log_every
            if should_log:
                self._last_log[kind] = now
        if should_log:
            logger.warning("bad input (%s): %s [counted in mre_processor_bad_input_total]", kind, message)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


BAD_INPUT = BadInputCounter()
