"""Faithfulness: P(faithful) of an answer given its retrieved context, and which claims are wrong.

The value is the faithfulness model's estimate (``faithfulness_model``: overlap evidence combined by
a logistic regression fitted on human-labelled data, calibrated), lowered when a structured check finds
a contradiction (``contradicts``). The claim checks name what is wrong: a claim is supported when a
context unit it aligns to covers enough of its content terms *and* carries every quantity it states
(value and unit) *and* the claim keeps every qualifier of that unit (except, unless, only, not,
contraindicated, ...). Overlap alone is not support: "400 mg every 6 hours" copied from a passage that
says it is contraindicated is an unsupported claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mre.model import Interaction, Score
from mre.processor import limits
from mre.processor.scorers._context import ContextUnits, SentenceIndex, Unit, index_of
from mre.processor.scorers.analysis import analysis_of
from mre.processor.scorers.faithfulness_evidence import FEATURES, SENTENCE_RE, sentence_evidence
from mre.processor.scorers.faithfulness_model import shipped_model
from mre.processor.scorers.text import (
    NEGATIONS,
    Quantity,
    analyze,
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
_CARVE_OUTS = frozenset({"except", "unless", "contraindicated", "excluding", "exclude", "excludes"})

REASON_UNSUPPORTED = "unsupported"
REASON_NUMBER = "number"
REASON_QUALIFIER = "qualifier"
REASON_NEGATION = "negation"
# A carve-out dropped or invented ("except", "unless", "contraindicated"): the claim reuses the source's
# words to state what it excludes.
REASON_CARVE_OUT = "carve_out"


@dataclass(frozen=True, slots=True)
class ClaimVerdict:
    claim: str
    supported: bool
    reason: str | None = None
    detail: str = ""
    source_doc: int | None = None
    # For a mismatch against an aligned unit (number, qualifier, negation, carve-out): how closely the
    # claim restates that unit, read by ``contradicts``; 0 otherwise.
    coverage: float = 0.0  # share of the claim's terms the unit holds
    restated: float = 0.0  # share of the unit's terms the claim holds


# A number or a negation that differs from a source unit the claim restates (the unit holds nearly all
# the claim's terms, the claim most of the unit's): it repeats that sentence and changes what it says.
# Less aligned, the same findings misfire on the labelled data (summaries fuse sentences and restate
# figures; a one-word answer is "covered" by any sentence that names it), so they name the claim in
# the explanation but leave the value to the evidence.
ALIGNED = 0.9
RESTATED = 0.7
_ALIGNED_CONTRADICTIONS = frozenset({REASON_NUMBER, REASON_NEGATION})


def contradicts(verdict: ClaimVerdict) -> bool:
    """The structured findings that lower P(faithful): chosen so that, leaving each labelled file out,
    none costs a file its ranking (``faithfulness_training``)."""
    return verdict.reason == REASON_CARVE_OUT or (
        verdict.reason in _ALIGNED_CONTRADICTIONS and verdict.coverage >= ALIGNED and verdict.restated >= RESTATED
    )


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
    size = len(terms)
    coverages = [len(terms & u.terms) / size for u in units] if terms else [0.0] * len(units)
    # Best coverage first; a stable sort keeps ties in unit order (single sentences are listed first).
    ranked = sorted(range(len(units)), key=coverages.__getitem__, reverse=True)
    candidates = [i for i in ranked if coverages[i] >= TERM_COVERAGE]
    if not candidates:
        best = coverages[ranked[0]] if ranked else 0.0
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
        if first_failure is None:
            first_failure = _aligned(failure, terms, claimed_quantities, units[i])
    assert first_failure is not None
    return first_failure


def _aligned(failure: ClaimVerdict, terms: frozenset[str], quantities: frozenset[Quantity], unit: Unit) -> ClaimVerdict:
    """The failure with how closely the claim restates the unit it fails against: the share of the
    claim's terms the unit holds and of the unit's terms the claim holds, unit words aside (in "1 day"
    against "24 hours" the unit word is the mismatch, not a sign of another sentence)."""
    measures = {q.unit for q in quantities | unit.quantities if q.unit}
    claim_terms, unit_terms = terms - measures, unit.terms - measures
    shared = len(claim_terms & unit_terms)
    return ClaimVerdict(
        failure.claim,
        failure.supported,
        failure.reason,
        failure.detail,
        failure.source_doc,
        coverage=shared / len(claim_terms) if claim_terms else 0.0,
        restated=shared / len(unit_terms) if unit_terms else 0.0,
    )


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
            _dropped_reason(dropped),
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
            REASON_CARVE_OUT,
            f"adds {', '.join(sorted(added))} the source does not state",
            doc,
        )
    return None


def _dropped_reason(dropped: frozenset[str]) -> str:
    if dropped & _CARVE_OUTS:
        return REASON_CARVE_OUT
    if dropped & NEGATIONS:
        return REASON_NEGATION  # the source denies what the claim affirms
    return REASON_QUALIFIER


def _fmt(q: Quantity) -> str:
    value = f"{q.value:g}"
    return f"{value} {q.unit}" if q.unit else value


def claim_verdicts(answer: str, index: SentenceIndex) -> tuple[ClaimVerdict, ...]:
    """Each claim of ``answer`` checked against the context sentences it aligns to."""
    return tuple(_check_aligned(c, index) for c in claims(answer))


def verdicts_of(interaction: Interaction) -> tuple[ClaimVerdict, ...] | None:
    """The interaction's claim verdicts, checked once for every scorer that asks which claims rest on
    which document (None: answer or context not captured, or the answer abstains)."""
    analysis = analysis_of(interaction)

    def build() -> tuple[ClaimVerdict, ...] | None:
        answer, index = interaction.answer, index_of(interaction)
        if answer is None or index is None or analysis.abstains:
            return None
        return claim_verdicts(answer, index)

    return analysis.part("claim_verdicts", build)


def _check_aligned(claim: str, index: SentenceIndex) -> ClaimVerdict:
    """Against the claim's best sentences first; only if none supports it, also the windows around
    them (a claim fusing neighbours), whose verdict then names the failure as a full check would."""
    best = index.best(claim)
    verdict = check_claim(claim, index.around(best, windows=False))
    if verdict.supported:
        return verdict
    return check_claim(claim, index.around(best, windows=True))


def answer_evidence(answer: str, index: SentenceIndex) -> tuple[float, float, float, float]:
    """The overlap evidence of the answer without citation markers and lead-ins ("Per the policy,
    ..."), which claim nothing about the world. Every other sentence stays: in dialogue, chit-chat the
    source does not bear out is itself evidence (dropping it costs BEGIN its ranking)."""
    sentences = SENTENCE_RE.split(strip_citations(answer))
    return sentence_evidence([_LEAD_IN_RE.sub("", s, count=1) for s in sentences], index)


def faithfulness(interaction: Interaction) -> Score | None:
    """None when the answer or its context was not captured, or the answer claims nothing."""
    return analysis_of(interaction).part(NAME, lambda: _faithfulness(interaction))


def _faithfulness(interaction: Interaction) -> Score | None:
    verdicts = verdicts_of(interaction)  # the answer split into claims once, for every scorer
    index, answer = index_of(interaction), interaction.answer
    if not verdicts or index is None or answer is None:
        return None
    # The value is the model's P(faithful) from the overlap evidence, lowered when a structured check
    # finds a contradiction; the claim verdicts name what is wrong (label, explanation, details).
    evidence = answer_evidence(answer, index)
    contradictions = [v for v in verdicts if contradicts(v)]
    model = shipped_model()
    value = model.probability(evidence, contradicted=bool(contradictions))
    unsupported = [v for v in verdicts if not v.supported]
    if not unsupported:
        label = "supported"
    else:
        label = "unsupported" if len(unsupported) == len(verdicts) else "partially_supported"
    named = dict(zip(FEATURES, evidence, strict=True))
    against = ", ".join(f"{k} {v:.2f}" for k, v in named.items() if v > 0) or "no evidence against it"
    explanation = f"P(faithful) {value:.2f} ({against}); "
    if unsupported:
        listed = "; ".join(f"'{_snippet(v.claim)}' ({v.reason}: {v.detail})" for v in unsupported[:3])
        explanation += f"{len(verdicts) - len(unsupported)}/{len(verdicts)} claims supported; unsupported: {listed}"
    else:
        explanation += f"all {len(verdicts)} claims supported by the context"
    return Score(
        name=NAME,
        value=value,
        label=label,
        explanation=explanation,
        details={
            "claims": len(verdicts),
            "supported_share": 1.0 - len(unsupported) / len(verdicts),
            "evidence": {k: round(v, 4) for k, v in named.items()},
            "contradicted": bool(contradictions),
            "unsupported": [{"claim": v.claim, "reason": v.reason, "detail": v.detail} for v in unsupported],
        },
    )


def _snippet(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
