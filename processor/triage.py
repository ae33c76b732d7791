"""Triage: name one cause for each interaction that fails an SLO, from its scores together.

- ``coverage``: nothing relevant was retrievable and the system answered anyway (should have abstained);
- ``abstention``: it abstained although the context answered;
- ``harness``: a guardrail allowed an answer the scores reject;
- ``generation``: the context was adequate but the answer is unfaithful or off the question;
- ``context``: the retrieval itself was the problem (reserved for freshness/conflict scorers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mre.model import Interaction, Score, SLOOutcome
from mre.processor.scorers.abstention import NEEDLESS_ABSTENTION, UNSUPPORTED_ANSWER

COVERAGE = "coverage"
ABSTENTION = "abstention"
HARNESS = "harness"
GENERATION = "generation"
CONTEXT = "context"
CAUSES = (CONTEXT, GENERATION, HARNESS, COVERAGE, ABSTENTION)


def triage(interaction: Interaction, scores: Mapping[str, Score], outcomes: Sequence[SLOOutcome]) -> str | None:
    if all(o.good for o in outcomes):
        return None
    abstention = scores.get("abstention")
    if abstention is not None and abstention.label == UNSUPPORTED_ANSWER:
        return COVERAGE
    if abstention is not None and abstention.label == NEEDLESS_ABSTENTION:
        return ABSTENTION
    if any(scores.get(name) is not None and scores[name].label == label for name, label in _CONTEXT_FAILURES):
        return CONTEXT
    faithfulness = scores.get("faithfulness")
    if faithfulness is not None and faithfulness.label != "supported" and _grounding_check_allowed(interaction):
        return HARNESS  # a check meant to stop unsupported answers let this one through
    return GENERATION


# Retrieval faults: the answer rests on a stale or unapproved source, stitches versions, uses a
# document the asker may not read, or a chunk cut off its qualifier.
_CONTEXT_FAILURES = (
    ("freshness", "stale_used"),
    ("conflicting_sources", "conflicting"),
    ("permission_leak", "leaked"),
    ("chunk_boundary", "cut"),
    ("context_precision", "irrelevant"),
)
_GROUNDING_WORDS = ("ground", "halluc", "faithful", "fact", "support", "citation")


def _grounding_check_allowed(interaction: Interaction) -> bool:
    for check in interaction.guardrails:
        if check.target != "output" or check.verdict != "allow":
            continue
        names = " ".join((check.name, *check.categories)).lower()
        if any(word in names for word in _GROUNDING_WORDS):
            return True
    return False
