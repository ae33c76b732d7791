"""The retrieved context cut into scoring units, built once per interaction and shared by scorers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from mre.processor.scorers.text import Analysis, Quantity, analyze, split_sentences, strip_citations


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


@lru_cache(maxsize=16384)
def _document_sentences(text: str) -> tuple[tuple[str, Analysis], ...]:
    """Per document text: chunks recur across answers, so each is split and analysed once."""
    return tuple((s, analyze(s)) for s in split_sentences(strip_citations(text)))


@lru_cache(maxsize=512)
def _units_cached(contexts: tuple[str, ...]) -> tuple[Unit, ...]:
    units: list[Unit] = []
    for doc_index, text in enumerate(contexts):
        sentences = [Unit(doc_index, s, a.terms, a.quantities, a.qualifiers) for s, a in _document_sentences(text)]
        units.extend(sentences)
        for a, b in pairwise(sentences):
            units.append(
                Unit(
                    doc_index,
                    f"{a.text} {b.text}",
                    a.terms | b.terms,
                    a.quantities | b.quantities,
                    a.qualifiers | b.qualifiers,
                )
            )
    return tuple(units)


def context_units(contexts: Sequence[str]) -> tuple[Unit, ...]:
    return _units_cached(tuple(contexts))
