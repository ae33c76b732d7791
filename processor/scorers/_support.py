"""Which retrieved documents an answer rests on, computed once per interaction and shared by the
scorers that judge those documents (freshness, permissions, conflicts, citations, chunking)."""

from __future__ import annotations

from dataclasses import dataclass

from mre.model import Document, Interaction
from mre.processor.scorers.analysis import analysis_of
from mre.processor.scorers.faithfulness import ClaimVerdict, verdicts_of


@dataclass(frozen=True, slots=True)
class Support:
    documents: tuple[Document, ...]  # the retrieved documents whose text was captured, in context order
    verdicts: tuple[ClaimVerdict, ...]
    used: frozenset[int]  # indices into ``documents`` that some claim rests on (supported or not)


def support(interaction: Interaction) -> Support | None:
    """None when the answer or the documents' text was not captured, or the answer abstains."""
    analysis = analysis_of(interaction)
    return analysis.part("support", lambda: _support(interaction))


def _support(interaction: Interaction) -> Support | None:
    docs = analysis_of(interaction).documents
    verdicts = verdicts_of(interaction)  # checked against exactly these documents' text, in order
    if docs is None or verdicts is None:
        return None
    with_text = tuple(d for d in docs if d.content)
    if not with_text:
        return None
    used = frozenset(v.source_doc for v in verdicts if v.source_doc is not None)
    return Support(with_text, verdicts, used)
