"""The retrieved context cut into scoring units, built once per interaction and shared by scorers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from mre.processor.scorers.text import Quantity, analyze, split_sentences, strip_citations


@dataclass(frozen=True, slots=True)
class Unit:
    """A sentence of one document, or two adjacent sentences (claims often fuse neighbours)."""

    doc_index: int
    text: str
    terms: frozenset[str]
    quantities: frozenset[Quantity]
    qualifiers: frozenset[str]


def coverage(needles: frozenset[str], haystack: frozenset[str]) -> float:
    if not needles:
        return 0.0
    return len(needles & haystack) / len(needles)


@lru_cache(maxsize=4096)
def _document_units(text: str) -> tuple[Unit, ...]:
    """Per document text: chunks recur across answers (at any position), so each is split, analysed
    and paired once; the units carry doc_index 0 until placed in a context."""
    doc_index = 0
    sentences = [
        Unit(doc_index, s, a.terms, a.quantities, a.qualifiers)
        for s, a in ((s, analyze(s)) for s in split_sentences(strip_citations(text)))
    ]
    pairs = [
        Unit(
            doc_index,
            f"{a.text} {b.text}",
            a.terms | b.terms,
            a.quantities | b.quantities,
            a.qualifiers | b.qualifiers,
        )
        for a, b in pairwise(sentences)
    ]
    return (*sentences, *pairs)


@lru_cache(maxsize=512)
def _units_cached(contexts: tuple[str, ...]) -> tuple[Unit, ...]:
    return tuple(
        u if doc_index == 0 else Unit(doc_index, u.text, u.terms, u.quantities, u.qualifiers)
        for doc_index, text in enumerate(contexts)
        for u in _document_units(text)
    )


def context_units(contexts: Sequence[str]) -> tuple[Unit, ...]:
    return _units_cached(tuple(contexts))
