"""Builders for interactions in tests."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from mre.model import Document, Interaction, Retrieval


def interaction(
    answer: str | None,
    contexts: Sequence[str] | None = (),
    question: str | None = "What does the policy say?",
    **kwargs: object,
) -> Interaction:
    retrievals: tuple[Retrieval, ...] = ()
    if contexts is not None:
        docs = [Document(id=f"doc-{i}", content=text, rank=i) for i, text in enumerate(contexts)]
        retrievals = (Retrieval(span_id="0" * 16, query=question, documents=docs),)
    return Interaction(
        trace_id="1" * 32,
        span_id="2" * 16,
        question=question,
        answer=answer,
        retrievals=retrievals,
        **kwargs,  # type: ignore[arg-type]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _faithfulness_scale() -> tuple[float, float]:
    from mre.processor.scorers.faithfulness_model import shipped_model
    from mre.slo_spec import default_slos

    threshold = next(s.threshold for s in default_slos() if s.scorer == "faithfulness")
    return shipped_model().probability((0.0, 0.0, 0.0, 0.0)), threshold


# Faithfulness reads as P(faithful): an answer the context fully bears out scores BORNE_OUT (the top of
# the scale, below 1 because the labelled data behind the model has unfaithful answers that copy their
# source too); a good answer scores at least the default SLO's threshold, a failing one below it.
BORNE_OUT, FAITHFULNESS_THRESHOLD = _faithfulness_scale()
