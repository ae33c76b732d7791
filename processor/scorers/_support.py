"""Which retrieved documents an answer rests on, computed once per interaction and shared by the
scorers that judge those documents (freshness, permissions, conflicts, citations, chunking)."""

from __future__ import annotations

from dataclasses import dataclass

from mre.model import Document, Interaction
from mre.processor.scorers.faithfulness import ClaimVerdict, claim_verdicts
from mre.processor.scorers.text import is_abstention


@dataclass(frozen=True, slots=True)
class Support:
    documents: tuple[Document, ...]  # the retrieved documents whose text was captured, in context order
    verdicts: tuple[ClaimVerdict, ...]
    used: frozenset[int]  # indices into ``documents`` that some claim rests on (supported or not)


def support(interaction: Interaction) -> Support | None:
    """None when the answer or the documents' text was not captured, or the answer abstains."""
    docs = interaction.documents
    answer = interaction.answer
    if docs is None or answer is None or is_abstention(answer):
        return None
    with_text = tuple(d for d in docs if d.content)
    if not with_text:
        return None
    verdicts = claim_verdicts(answer, tuple(d.content or "" for d in with_text))
    used = frozenset(v.source_doc for v in verdicts if v.source_doc is not None)
    return Support(with_text, verdicts, used)
