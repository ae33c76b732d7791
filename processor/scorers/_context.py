"""The retrieved context cut into scoring units, built once per interaction and shared by scorers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from mre.processor import limits
from mre.processor.scorers._cache import text_cache
from mre.processor.scorers.text import Quantity, analyze, split_sentences, strip_citations


@dataclass(frozen=True, slots=True)
class Unit:
    """A sentence of one document, or two adjacent sentences (claims often fuse neighbours)."""

    text: str
    terms: frozenset[str]
    quantities: frozenset[Quantity]
    qualifiers: frozenset[str]


def coverage(needles: frozenset[str], haystack: frozenset[str]) -> float:
    if not needles:
        return 0.0
    return len(needles & haystack) / len(needles)


def best_coverage(needles: frozenset[str], units: Sequence[Unit]) -> float:
    """The highest coverage over units (inlined: this runs for every unit of every answer)."""
    if not needles:
        return 0.0
    best = max((len(needles & u.terms) for u in units), default=0)
    return best / len(needles)


@text_cache(max_entries=4_096, max_chars=8_000_000)
def _document_units(text: str) -> tuple[Unit, ...]:
    """Per document text: chunks recur across answers (at any position), so each is split, analysed
    and paired once. Units carry no position; :class:`ContextUnits` says which document each is from."""
    sentences = [
        Unit(s, a.terms, a.quantities, a.qualifiers)
        for s, a in ((s, analyze(s)) for s in split_sentences(strip_citations(text)))
    ]
    pairs = [
        Unit(f"{a.text} {b.text}", a.terms | b.terms, a.quantities | b.quantities, a.qualifiers | b.qualifiers)
        for a, b in pairwise(sentences)
    ]
    # Claims also fuse a sentence with the one after next ("20 weeks ..., within 18 months"): windows of
    # three, as SummaC aligns claims to source windows rather than to single sentences.
    triples = [
        Unit(
            f"{a.text} {b.text} {c.text}",
            a.terms | b.terms | c.terms,
            a.quantities | b.quantities | c.quantities,
            a.qualifiers | b.qualifiers | c.qualifiers,
        )
        for a, b, c in zip(sentences, sentences[1:], sentences[2:], strict=False)
    ]
    return (*sentences, *pairs, *triples)


@dataclass(frozen=True, slots=True)
class ContextUnits:
    units: tuple[Unit, ...]
    docs: tuple[int, ...]  # the document (context index) of each unit

    def __len__(self) -> int:
        return len(self.units)


@text_cache(max_entries=512, max_chars=8_000_000)
def _units_cached(contexts: tuple[str, ...]) -> ContextUnits:
    """Every document's units, at most MAX_UNITS in all (the first documents first: retrieval ranks
    them); the cut is counted."""
    per_doc = [_document_units(text) for text in contexts]
    units = tuple(u for doc in per_doc for u in doc)
    docs = tuple(i for i, doc in enumerate(per_doc) for _ in doc)
    if len(units) > limits.MAX_UNITS:
        limits.CUTS.record(limits.UNITS)
        units, docs = units[: limits.MAX_UNITS], docs[: limits.MAX_UNITS]
    return ContextUnits(units, docs)


def context_units(contexts: Sequence[str]) -> ContextUnits:
    return _units_cached(tuple(contexts))
