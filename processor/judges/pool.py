"""Judge calls off the scoring worker: a few threads with a bounded backlog.

A trace whose answer the cascade escalates is finished here (the judge's verdict, then its SLO
outcomes, sinks and forwarding); every other trace goes on at once, so one slow judge never holds
the worker. At most ``max_concurrent`` judge calls run at a time; when ``max_pending`` traces already
wait, the next escalation is not made (decision ``throttled``, the cheap score stands), never queued
without bound. Each call's own timeout is the judge client's (``LLMJudge(timeout_s=...)``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from opentelemetry.instrumentation.utils import suppress_instrumentation

logger = logging.getLogger(__name__)


class JudgePool:
    def __init__(self, max_concurrent: int = 4, max_pending: int = 256) -> None:
        if max_concurrent < 1 or max_pending < 1:
            raise ValueError("the judge pool needs at least one thread and one pending slot")
        self.max_concurrent = max_concurrent
        self.max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_concurrent, thread_name_prefix="mre-judge")
        self._pending = 0
        self._idle = threading.Condition()
        # Set when closing runs out of time: traces still waiting are finished without their judge
        # (decision judge_failed, the cheap score stands) rather than never delivered.
        self.abandoning = False

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, job: Callable[[], None]) -> bool:
        """Run ``job`` on a judge thread; False (nothing run) when the backlog is full."""
        with self._idle:
            if self._pending >= self.max_pending:
                return False
            self._pending += 1
        self._executor.submit(self._run, job)
        return True

    def _run(self, job: Callable[[], None]) -> None:
        try:
            with suppress_instrumentation():  # the judge's own LLM call is not an answer
                job()
        except Exception:
            logger.exception("judged trace failed")
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def drain(self, timeout_s: float) -> bool:
        """Wait until no judged trace is left; True when done within the timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        if not self.drain(timeout_s):
            self.abandoning = True
            if not self.drain(5.0):  # only calls already in flight are left; they end at their timeout
                logger.warning("judge pool closed with %d judged trace(s) still running", self._pending)
        self._executor.shutdown(wait=False)
