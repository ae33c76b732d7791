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
