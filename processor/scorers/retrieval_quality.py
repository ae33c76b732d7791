"""Scorers of the retrieved context itself: precision (rank-aware), where the answer's source sat
(lost in the middle), chunk boundaries that cut a qualifier off, and context overload."""

from __future__ import annotations

import re

from mre.model import Interaction, Score
from mre.processor.scorers._context import coverage
from mre.processor.scorers._support import support
from mre.processor.scorers.analysis import analysis_of
from mre.processor.scorers.text import question_terms, text_terms

RELEVANT_AT = 0.5  # share of the question's key terms a document must hold to count as relevant
# Share of the model's context window the retrieved text may fill before answers degrade.
OVERLOAD_SHARE = 0.8
DEFAULT_WINDOW_TOKENS = 8192
_CONNECTIVE_START = re.compile(
    r"^\s*(?:except|unless|however|but|although|provided|only|excluding|otherwise|and|or|which|that)\b", re.I
)


def context_precision(interaction: Interaction) -> Score | None:
    """Average precision over the ranked documents: relevant documents should come first."""
    docs = analysis_of(interaction).documents
    if interaction.question is None or docs is None:
        return None
    asked = question_terms(interaction.question)
    texts = [d.content for d in docs]
    if not asked or not docs or any(t is None for t in texts):
        return None if docs else Score("context_precision", 0.0, "no_context", "nothing was retrieved")
    relevant = [coverage(asked, text_terms(t or "")) >= RELEVANT_AT for t in texts]
    hits, precision_sum = 0, 0.0
    for rank, is_relevant in enumerate(relevant, start=1):
        if is_relevant:
            hits += 1
            precision_sum += hits / rank
    value = precision_sum / hits if hits else 0.0
    label = "precise" if value >= 0.75 else ("imprecise" if hits else "irrelevant")
    return Score(
        "context_precision",
        value,
        label,
        f"{hits}/{len(docs)} retrieved documents are relevant to the question; average precision {value:.2f}",
        {"relevant_ranks": [i for i, r in enumerate(relevant) if r]},
    )


def lost_in_the_middle(interaction: Interaction) -> Score | None:
    """1 when the documents the answer rests on sit at the edges of the context, lower towards the
    middle, where long-context models overlook them."""
    s = support(interaction)
    if s is None or not s.used or len(s.documents) < 3:
        return None
    n = len(s.documents)
    depth = [min(i, n - 1 - i) / ((n - 1) / 2) for i in s.used]
    value = 1.0 - max(depth)
    label = "edge" if value >= 0.5 else "middle"
    return Score(
        "lost_in_the_middle",
        value,
        label,
        f"the answer rests on context position(s) {sorted(i + 1 for i in s.used)} of {n}",
        {"positions": sorted(s.used), "documents": n},
    )


def chunk_boundary(interaction: Interaction) -> Score | None:
    """A source chunk that starts mid-sentence or with a qualifying connective, or ends mid-sentence:
    the qualifier the answer needs may sit in the chunk that was not retrieved."""
    s = support(interaction)
    if s is None or not s.used:
        return None
    findings = []
    for i in sorted(s.used):
        text = (s.documents[i].content or "").strip()
        if not text:
            continue
        problems = []
        if text[0].islower() or _CONNECTIVE_START.match(text):
            problems.append("starts mid-sentence" if text[0].islower() else "opens with a qualifying connective")
        if text[-1] not in ".!?\"')]":
            problems.append("ends mid-sentence")
        if problems:
            findings.append({"document": s.documents[i].id, "problems": problems})
    value = 0.0 if findings else 1.0
    explanation = (
        "; ".join(f"{f['document']}: {', '.join(f['problems'])}" for f in findings)
        if findings
        else "every source chunk is a whole passage"
    )
    return Score("chunk_boundary", value, "cut" if findings else "whole", explanation, {"findings": findings})


def context_overload(interaction: Interaction, window_tokens: int = DEFAULT_WINDOW_TOKENS) -> Score | None:
    """The retrieved text filled most of the window, or a document was marked truncated."""
    docs = analysis_of(interaction).documents
    if docs is None:
        return None
    texts = [d.content for d in docs if d.content]
    if not texts and not docs:
        return None
    # ~4 characters a token: no tokenizer needed to see an order-of-magnitude problem.
    tokens = interaction.input_tokens or sum(len(t) for t in texts) // 4
    share = tokens / window_tokens
    truncated = [d.id for d in docs if d.metadata.get("truncated") in (True, "true", "yes")]
    overloaded = share >= OVERLOAD_SHARE or bool(truncated)
    explanation = f"~{tokens} prompt tokens, {share:.0%} of a {window_tokens}-token window"
    if truncated:
        explanation += f"; truncated: {', '.join(truncated)}"
    return Score(
        "context_overload",
        0.0 if overloaded else 1.0,
        "overloaded" if overloaded else "ok",
        explanation,
        {"tokens": tokens, "window_share": round(share, 3), "truncated": truncated},
    )
