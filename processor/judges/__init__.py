"""Stronger judges behind the same ``Interaction -> Score | None`` interface as the offline scorers,
and the cascade that sends them only what the cheap scorer is unsure of, within a budget.

Both judges are extras: the default scorers need no model and no network.
"""

from mre.processor.judges.cascade import Budget, Cascade, RateLimit, Scorer
from mre.processor.judges.llm import LLMJudge

__all__ = ["Budget", "Cascade", "LLMJudge", "RateLimit", "build_faithfulness"]


def build_faithfulness(
    *,
    judge_url: str | None = None,
    judge_model: str = "gpt-4o-mini",
    judge_api_key: str = "unused",
    embedding: bool = False,
    nli_model: str | None = None,
    nli_entailment_label: str | None = None,
    band: tuple[float, float] = (0.2, 0.85),
    sample_rate: float = 1.0,
    rate_per_s: float | None = None,
    budget_per_day: float | None = None,
    cost_per_call: float = 1.0,
) -> Scorer | None:
    """The faithfulness scorer a configuration asks for: None keeps the offline default; otherwise the
    offline scorer cascades to the LLM judge (``judge_url``), a local NLI / cross-encoder model
    directory (``nli_model``) or the embedding judge."""
    from mre.processor.judges.embedding import EmbeddingJudge
    from mre.processor.scorers.faithfulness import faithfulness

    judge: Scorer
    if judge_url:
        judge = LLMJudge(judge_url, judge_model, api_key=judge_api_key)
    elif nli_model:
        from mre.processor.judges.nli import NLIJudge

        label = nli_entailment_label  # "2" from a command line is the index of the output
        judge = NLIJudge(nli_model, entailment_label=int(label) if label and label.isdigit() else label)
    elif embedding:
        judge = EmbeddingJudge()
    else:
        return None
    return Cascade(
        faithfulness,
        judge,
        band=band,
        sample_rate=sample_rate,
        rate_limit=RateLimit(rate_per_s, max(1, int(rate_per_s))) if rate_per_s else None,
        budget=Budget(budget_per_day, cost_per_call) if budget_per_day is not None else None,
    )
