"""The GenAI client metrics of the semantic conventions, with their advised buckets."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections import deque
from typing import Any, ClassVar

from opentelemetry.context import Context, get_current
from opentelemetry.metrics import Histogram, MeterProvider, get_meter

import mre

DURATION = "gen_ai.client.operation.duration"
TOKEN_USAGE = "gen_ai.client.token.usage"
logger = logging.getLogger("mre.instrumentation")
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


class _Recorder:
    """One per process: a bounded deque the app's threads append to and one daemon thread that
    records. ``Histogram.record`` hashes the attributes and updates aggregations under a lock (tens
    of microseconds); the app's thread only appends, with its context, so exemplars still carry the
    span that measured. A full deque drops the measurement and counts it (``dropped``). After a fork
    the child starts its own thread lazily (threads do not survive ``fork``)."""

    MAX_PENDING = 50_000

    def __init__(self) -> None:
        self.dropped = 0
        self._pending: deque[tuple[Histogram, float, dict[str, Any], Context]] = deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def record(self, histogram: Histogram, value: float, attributes: dict[str, Any]) -> None:
        if len(self._pending) >= self.MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append((histogram, value, attributes, get_current()))
        self._ensure_thread()
        if len(self._pending) >= 256:
            self._wake.set()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="mre-genai-metrics", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        """Record everything pending now (tests, shutdown)."""
        while self._pending:
            try:
                histogram, value, attributes, context = self._pending.popleft()
            except IndexError:
                return
            try:
                histogram.record(value, attributes, context=context)
            except Exception:  # a metrics SDK error must not stop the recorder
                logger.debug("metric record failed", exc_info=True)

    def after_fork(self) -> None:
        self._pending.clear()  # the parent's measurements are the parent's to record
        self._thread = None

    def _run(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            self.flush()


RECORDER = _Recorder()
atexit.register(RECORDER.flush)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=RECORDER.after_fork)


class Instruments:
    """The two GenAI client histograms of one meter provider, recorded through the process's one
    recorder. ``Instruments.of`` keeps one per meter provider: instrumenting eight libraries, or the
    same one again, adds no thread and no instrument."""

    _global: ClassVar[Instruments | None] = None
    _guard: ClassVar[threading.Lock] = threading.Lock()

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

    @classmethod
    def of(cls, meter_provider: MeterProvider | None = None) -> Instruments:
        with cls._guard:
            if meter_provider is None:  # the global provider (get_meter resolves it lazily)
                if cls._global is None:
                    cls._global = cls(None)
                return cls._global
            found = _BY_PROVIDER.get(meter_provider)
            if found is None:
                found = _BY_PROVIDER[meter_provider] = cls(meter_provider)
            return found

    @property
    def dropped(self) -> int:
        return RECORDER.dropped

    def record(self, histogram: Histogram, value: float, attributes: dict[str, Any]) -> None:
        RECORDER.record(histogram, value, attributes)

    def flush(self) -> None:
        RECORDER.flush()


# Instruments by meter provider, forgotten with the provider.
_BY_PROVIDER: weakref.WeakKeyDictionary[MeterProvider, Instruments] = weakref.WeakKeyDictionary()
