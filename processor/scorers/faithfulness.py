"""Claim-level faithfulness: every claim of the answer must rest on the retrieved context.

A claim is supported when some context unit covers enough of its content terms *and* carries every
quantity it states (value and unit) *and* the claim keeps every qualifier of that unit (except,
unless, only, not, contraindicated, ...). Overlap alone is not support: "400 mg every 6 hours" copied
from a passage that says it is contraindicated is an unsupported claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mre.model import Interaction, Score
from mre.processor import limits
from mre.processor.scorers._cache import text_cache
from mre.processor.scorers._context import ContextUnits, Unit, context_units
from mre.processor.scorers.text import (
    Quantity,
    analyze,
    is_abstention,
    quantity_supported,
    quantity_values,
    split_sentences,
    strip_citations,
)

NAME = "faithfulness"
# Share of a claim's content terms a unit must cover to be its candidate support.
TERM_COVERAGE = 0.6
_LEAD_IN_RE = re.compile(
    r"^\s*(?:(?:according\s+to|per|based\s+on|as\s+(?:stated|described|set\s+out)\s+in|under)\s+[^,]{0,80},\s*"
    r"|(?:the\s+)?(?:short\s+|final\s+)?answer\s+(?:is|would\s+be)\s*:?\s*)",
    re.I,
)
# Proper names and titles: a run of capitalized words (with the small words titles contain).
# Linear: whitespace between the words is bounded and every run is possessive (no backtracking).
_ENTITY_RE = re.compile(
    r"\b[A-Z][\w'’\-]*+(?:[ \t]{1,3}+(?:(?:of|the|for|and|de|von|van|la|le|du)[ \t]{1,3}+)?[A-Z][\w'’\-]*+)*+"
)

_CARVE_OUTS = frozenset({"except", "unless", "contraindicated", "excluding", "exclude", "excludes"})

REASON_UNSUPPORTED = "unsupported"
REASON_NUMBER = "number"
REASON_QUALIFIER = "qualifier"
REASON_NEGATION = "negation"
_WEIGHT = {None: 1.0, REASON_UNSUPPORTED: 0.5, REASON_NUMBER: 0.0, REASON_QUALIFIER: 0.0, REASON_NEGATION: 0.0}


@dataclass(frozen=True, slots=True)
class ClaimVerdict:
    claim: str
    supported: bool
    reason: str | None = None
    detail: str = ""
    source_doc: int | None = None


def claim_strength(claim: str, question: str | None, context_terms: frozenset[str], context_lower: str) -> float:
    """How much of what the claim adds (beyond restating the question) the context holds, in [0, 1].

    Two length-independent signals multiplied: the share of the claim's new content terms found in
    the context, and the share of its named entities found there."""
    terms = analyze(claim).terms
    asked = analyze(question).terms if question else frozenset()
    new = terms - asked
    term_support = len(new & context_terms) / len(new) if new else 1.0
    question_lower = question.lower() if question else ""
    entities = [
        e for i, e in enumerate(_ENTITY_RE.findall(claim)) if not (i == 0 and claim.startswith(e) and " " not in e)
    ]
    if entities:
        found = sum(1 for e in entities if e.lower() in context_lower or e.lower() in question_lower)
        entity_support = found / len(entities)
    else:
        entity_support = 1.0
    return term_support * entity_support


def claims(answer: str) -> list[str]:
    """The answer's checkable sentences, at most MAX_CLAIMS (each is aligned to every context unit:
    the bound keeps an answer's cost bounded; the cut is counted)."""
    out: list[str] = []
    for sentence in split_sentences(strip_citations(answer)):
        text = _LEAD_IN_RE.sub("", sentence).strip()
        a = analyze(text)
        if a.terms or a.quantities:
            if len(out) == limits.MAX_CLAIMS:
                limits.CUTS.record(limits.CLAIMS)
                break
            out.append(text)
    return out


def check_claim(claim: str, context: ContextUnits) -> ClaimVerdict:
    analysis = analyze(claim)
    terms = analysis.terms
    claimed_quantities = analysis.quantities
    claimed_qualifiers = analysis.qualifiers
    units, docs = context.units, context.docs
    if not terms:
        scored = [(0.0, i) for i in range(len(units))]
    else:
        size = len(terms)
        scored = [(len(terms & u.terms) / size, i) for i, u in enumerate(units)]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))  # ties: single sentences (listed first) win
    candidates = [i for cov, i in scored if cov >= TERM_COVERAGE]
    if not candidates:
        best = scored[0][0] if scored else 0.0
        return ClaimVerdict(claim, False, REASON_UNSUPPORTED, f"best context match covers {best:.0%} of its terms")
    if claimed_quantities or claimed_qualifiers:
        # Prefer a candidate that carries the claim's numbers: with two versions of a policy in the
        # context, the one stating the claimed figure is the one the claim rests on.
        candidates.sort(key=lambda i: -_supported_quantities(claimed_quantities, units[i].quantities))
    first_failure: ClaimVerdict | None = None
    for i in candidates:
        failure = _mismatch(claim, claimed_quantities, claimed_qualifiers, units[i], docs[i])
        if failure is None:
            return ClaimVerdict(claim, True, source_doc=docs[i])
        first_failure = first_failure or failure
    assert first_failure is not None
    return first_failure


def _supported_quantities(claimed: frozenset[Quantity], source: frozenset[Quantity]) -> int:
    values = quantity_values(source)
    return sum(quantity_supported(q, source, values) for q in claimed)


def _mismatch(
    claim: str, claimed_q: frozenset[Quantity], claimed_qual: frozenset[str], unit: Unit, doc: int
) -> ClaimVerdict | None:
    values = quantity_values(unit.quantities)
    missing_q = [q for q in claimed_q if not quantity_supported(q, unit.quantities, values)]
    if missing_q:
        shown = ", ".join(_fmt(q) for q in sorted(missing_q, key=lambda q: q.value))
        return ClaimVerdict(claim, False, REASON_NUMBER, f"{shown} not in the source", doc)
    dropped = unit.qualifiers - claimed_qual
    if dropped:
        return ClaimVerdict(
            claim,
            False,
            REASON_QUALIFIER,
            f"source qualifies it with {', '.join(sorted(dropped))}",
            doc,
        )
    if "not" in claimed_qual and "not" not in unit.qualifiers:
        return ClaimVerdict(claim, False, REASON_NEGATION, "negates what the source states", doc)
    added = (claimed_qual - unit.qualifiers) & _CARVE_OUTS
    if added:
        # A carve-out the source does not make: typically stitched from another version or document.
        return ClaimVerdict(
            claim,
            False,
            REASON_QUALIFIER,
            f"adds {', '.join(sorted(added))} the source does not state",
            doc,
        )
    return None


def _fmt(q: Quantity) -> str:
    value = f"{q.value:g}"
    return f"{value} {q.unit}" if q.unit else value


@text_cache(max_entries=2_048, max_chars=8_000_000)
def claim_verdicts(answer: str, contexts: tuple[str, ...]) -> tuple[ClaimVerdict, ...]:
    """Cached: several scorers ask which claims rest on which document."""
    units = context_units(contexts)
    return tuple(check_claim(c, units) for c in claims(answer))


def faithfulness(interaction: Interaction) -> Score | None:
    contexts = interaction.contexts
    answer = interaction.answer
    if contexts is None or answer is None or is_abstention(answer):
        return None  # not captured, or nothing claimed
    return _faithfulness(answer, interaction.question, tuple(contexts))


@text_cache(max_entries=1_024, max_chars=8_000_000)  # calibration asks again for the same answer
def _faithfulness(answer: str, question: str | None, contexts: tuple[str, ...]) -> Score | None:
    verdicts = claim_verdicts(answer, contexts)  # split the answer into claims once, for every scorer
    if not verdicts:
        return None
    units = context_units(contexts)
    unsupported = [v for v in verdicts if not v.supported]
    # The value grades support rather than counting claims: a claim that contradicts its source (a
    # number, a qualifier, a negation) counts 0; one the context covers too little counts half its
    # strength; a supported claim counts its strength (how much of what it adds the context holds).
    context_terms = frozenset().union(*(u.terms for u in units.units)) if units else frozenset()
    context_lower = " ".join(contexts).lower()
    strengths = [claim_strength(v.claim, question, context_terms, context_lower) * _WEIGHT[v.reason] for v in verdicts]
    value = sum(strengths) / len(strengths)
    if not unsupported:
        label = "supported"
    else:
        label = "unsupported" if len(unsupported) == len(verdicts) else "partially_supported"
    if unsupported:
        listed = "; ".join(f"'{_snippet(v.claim)}' ({v.reason}: {v.detail})" for v in unsupported[:3])
        explanation = f"{len(verdicts) - len(unsupported)}/{len(verdicts)} claims supported; unsupported: {listed}"
    else:
        explanation = f"all {len(verdicts)} claims supported by the context"
    return Score(
        name=NAME,
        value=value,
        label=label,
        explanation=explanation,
        details={
            "claims": len(verdicts),
            "supported_share": 1.0 - len(unsupported) / len(verdicts),
            "unsupported": [{"claim": v.claim, "reason": v.reason, "detail": v.detail} for v in unsupported],
        },
    )


def _snippet(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
