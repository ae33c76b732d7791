"""Judge calls run off the scoring worker: a slow judge holds only the traces it judges, at most
``max_concurrent`` calls run at once, and a full backlog skips the escalation (counted "throttled")
instead of queueing without bound. Nothing is delivered before its judge has spoken."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from mre.exporters.embedded import EmbeddedSetup, install_embedded
from mre.instrumentation import generation, retrieval
from mre.model import Document, Interaction, Score
from mre.processor.judges import Cascade
from mre.processor.judges.cascade import ESCALATED, THROTTLED
from mre.processor.judges.pool import JudgePool

CONTEXT = "Customers may request a refund within 30 days of delivery."


def cheap(interaction: Interaction) -> Score:
    sure = "sure" in (interaction.answer or "")
    return Score("faithfulness", 1.0 if sure else 0.5, "supported" if sure else "unsure", "cheap")


class SlowJudge:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = 0
        self.most = 0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, interaction: Interaction) -> Score:
        with self._lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return Score("judge", 0.0, "unsupported", "the judge says no")


def _send(provider: TracerProvider, answer: str) -> None:
    with provider.get_tracer("t").start_as_current_span("request"):
        with retrieval("kb", query="How long for refunds?", tracer_provider=provider) as r:
            r.record_documents([Document("d", CONTEXT)])
        with generation("m", messages=[{"role": "user", "content": "How long?"}], tracer_provider=provider) as g:
            g.record_output(answer)


def _answers(setup: EmbeddedSetup) -> float:
    return (
        setup.registry.get_sample_value("mre_interactions_total", {"service": "unknown_service:python", "model": "m"})
        or 0.0
    )


@pytest.fixture
def judge() -> SlowJudge:
    return SlowJudge(0.6)


@pytest.fixture
def served(judge: SlowJudge, capture_on: None) -> Iterator[tuple[TracerProvider, EmbeddedSetup, Cascade]]:
    provider = TracerProvider()
    cascade = Cascade(cheap, judge, band=(0.2, 0.85))
    setup = install_embedded(provider, scorers={"faithfulness": cascade}, grace_s=0.05)
    setup.processor._worker.judges = JudgePool(max_concurrent=2, max_pending=4)  # small, to see the bounds
    yield provider, setup, cascade
    setup.close()


def test_a_slow_judge_holds_only_the_traces_it_judges(
    served: tuple[TracerProvider, EmbeddedSetup, Cascade], judge: SlowJudge
) -> None:
    provider, setup, cascade = served
    for _ in range(4):
        _send(provider, "Refunds take 30 days, maybe.")  # in the uncertain band: escalated
    _send(provider, "Refunds take 30 days, sure.")  # certain: no judge
    deadline = time.monotonic() + 3
    while _answers(setup) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _answers(setup) == 1  # the certain answer is delivered while the judges still run
    assert setup.processor.force_flush(10_000)
    assert _answers(setup) == 5
    assert judge.calls == 4 and judge.most == 2  # never more than max_concurrent at once
    assert cascade.decisions[ESCALATED] == 4
    # the judge's verdict is what was delivered: 4 answers scored 0, one scored 1
    total = setup.registry.get_sample_value(
        "mre_evaluation_score_sum", {"service": "unknown_service:python", "model": "m", "evaluation": "faithfulness"}
    )
    assert total == 1.0
    # The judges' thread counts its rescoring and delivery, not the 4 x 0.6 s it waited on the judge.
    cpu = {
        step: setup.registry.get_sample_value("mre_processor_cpu_seconds_total", {"step": step})
        for step in ("read", "score", "deliver")
    }
    assert all(seconds is not None and seconds > 0.0 for seconds in cpu.values()), cpu
    assert cpu["score"] < 1.0


def test_a_full_backlog_skips_the_escalation_instead_of_queueing(
    served: tuple[TracerProvider, EmbeddedSetup, Cascade], judge: SlowJudge
) -> None:
    provider, setup, cascade = served
    for _ in range(12):
        _send(provider, "Refunds take 30 days, maybe.")
        setup.processor.force_flush(0)  # one trace at a time reaches the pool
    assert setup.processor.force_flush(20_000)
    assert _answers(setup) == 12
    assert cascade.decisions[THROTTLED] >= 1 and judge.calls <= 12 - cascade.decisions[THROTTLED]


def test_a_judge_that_raises_costs_its_verdict_not_the_answer(capture_on: None) -> None:
    from mre.processor.judges.cascade import JUDGE_FAILED

    def broken(interaction: Interaction) -> Score:
        raise RuntimeError("judge endpoint exploded")

    provider = TracerProvider()
    cascade = Cascade(cheap, broken, band=(0.2, 0.85))
    setup = install_embedded(provider, scorers={"faithfulness": cascade}, grace_s=0.05)
    try:
        _send(provider, "Refunds take 30 days, maybe.")
        assert setup.processor.force_flush(10_000)
        assert _answers(setup) == 1  # delivered with the cheap score
        assert cascade.decisions[JUDGE_FAILED] == 1
        assert setup.processor._worker.pipeline.stats.scorer_errors == {"faithfulness": 1}
    finally:
        setup.close()


def test_closing_out_of_time_delivers_what_still_waits_without_its_judge(capture_on: None) -> None:
    from mre.processor.judges.cascade import JUDGE_FAILED

    judge = SlowJudge(1.0)
    provider = TracerProvider()
    cascade = Cascade(cheap, judge, band=(0.2, 0.85))
    setup = install_embedded(provider, scorers={"faithfulness": cascade}, grace_s=0.05)
    worker = setup.processor._worker
    worker.judges = JudgePool(max_concurrent=1, max_pending=10)
    delivered: list[object] = []
    worker.pipeline.sinks.append(type("Count", (), {"on_evaluation": lambda self, e: delivered.append(e)})())
    for _ in range(4):
        _send(provider, "Refunds take 30 days, maybe.")
    worker.flush(0.5)  # queued for the judges, not judged yet
    worker.close(timeout_s=0.5)  # one judge call at a time, 1 s each: most are still waiting
    assert len(delivered) == 4  # every answer delivered
    assert cascade.decisions[JUDGE_FAILED] >= 2 and judge.calls <= 2
