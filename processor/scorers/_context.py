"""The retrieved context cut into scoring units and indexed by sentence: per document text once (chunks
recur across answers), and per interaction once (its analysis holds them for every scorer)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from itertools import chain, filterfalse, repeat
from typing import Protocol, TypeVar

from mre.model import Interaction
from mre.processor import limits
from mre.processor.baselines import STOP_WORDS, tokens
from mre.processor.scorers._cache import text_cache
from mre.processor.scorers.analysis import analysis_of
from mre.processor.scorers.text import Analysis, Quantity, analyze, split_sentences, strip_citations


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


@dataclass(frozen=True, slots=True)
class _DocumentUnits:
    units: tuple[Unit, ...]  # singles, then pairs, then triples
    widest: int  # how many of the last units no other unit of the document contains


@text_cache(max_entries=4_096, max_chars=8_000_000)
def _document_units(text: str) -> _DocumentUnits:
    """Per document text: chunks recur across answers (at any position), so each is split, analysed
    and paired once. Units carry no position; :class:`ContextUnits` says which document each is from."""
    doc = _document_sentences(text)  # the same sentences claims are aligned to, and their windows' units
    n = len(doc.texts)
    singles = [doc.window(i, 1) for i in range(n)]
    pairs = [doc.window(i, 2) for i in range(n - 1)]
    # Claims also fuse a sentence with the one after next ("20 weeks ..., within 18 months"): windows of
    # three, as SummaC aligns claims to source windows rather than to single sentences.
    triples = [doc.window(i, 3) for i in range(n - 2)]
    return _DocumentUnits((*singles, *pairs, *triples), len(triples) or len(pairs) or len(singles))


@dataclass(frozen=True, slots=True)
class ContextUnits:
    units: tuple[Unit, ...]
    docs: tuple[int, ...]  # the document (context index) of each unit
    cut: bool = False  # whether units past MAX_UNITS were left out
    # The units no other unit here contains (a document's widest windows), by index; () means all.
    # A unit's terms are the union of its sentences', so what holds most of some terms is among them.
    widest: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.units)

    def widest_units(self) -> Sequence[Unit]:
        return [self.units[i] for i in self.widest] if self.widest else self.units


def context_units(contexts: Sequence[str]) -> ContextUnits:
    """Every document's units, at most MAX_UNITS in all (the first documents first: retrieval ranks
    them); ``cut`` says whether the bound left some out (the answer's analysis counts it: ``units_of``)."""
    per_doc = [_document_units(text) for text in contexts]
    units = tuple(chain.from_iterable([doc.units for doc in per_doc]))
    docs = tuple(chain.from_iterable([repeat(i, len(doc.units)) for i, doc in enumerate(per_doc)]))
    cut = len(units) > limits.MAX_UNITS
    kept = limits.MAX_UNITS if cut else len(units)
    widest: list[int] = []
    start = 0
    for doc in per_doc:
        end = start + len(doc.units)
        if end <= kept:
            widest.extend(range(end - doc.widest, end))
        elif start < kept:
            widest.extend(range(start, kept))  # a document the bound cut: its kept units, all of them
        start = end
    return ContextUnits(units[:kept], docs[:kept], cut, tuple(widest))


class _Cut(Protocol):
    @property
    def cut(self) -> bool: ...


R = TypeVar("R", bound=_Cut)


def count_cut(interaction: Interaction) -> None:
    """Count the answer's context as cut at MAX_UNITS, once per answer, whichever readings of it (the
    units, the sentence index, one document's units) met the bound."""

    def count() -> bool:
        limits.CUTS.record(limits.UNITS)
        return True

    analysis_of(interaction).part("context_cut_counted", count)


def _context_reading(interaction: Interaction, name: str, read: Callable[[Sequence[str]], R]) -> R | None:
    """``read`` of the interaction's context, built once for all its scorers and its cut counted
    (None: the context was not captured)."""
    analysis = analysis_of(interaction)

    def build() -> R | None:
        contexts = analysis.contexts
        if contexts is None:
            return None
        reading = read(contexts)
        if reading.cut:
            count_cut(interaction)
        return reading

    return analysis.part(name, build)


def units_of(interaction: Interaction) -> ContextUnits | None:
    """The units of the interaction's context (the abstention and provenance scorers read them)."""
    return _context_reading(interaction, "context_units", context_units)


# Aligning a claim: source sentences are ranked by shared word prefixes (five letters merge the
# variants stemming would: "refunds"/"refund", "requested"/"requests"), and only the best few are
# analysed, with the windows of two and three sentences around them. The full analysis of every
# sentence was most of an answer's cost; the ranking is a set intersection per sentence.
ALIGN_TOP = 3
_PREFIX = 5


_prefix = operator.itemgetter(slice(None, _PREFIX))  # w[:5], mapped in C


def alignment_keys(words: frozenset[str]) -> frozenset[str]:
    return frozenset(map(_prefix, words))


@dataclass(frozen=True, slots=True)
class _Sentences:
    """One document's sentences: text, content words (the baseline's tokens minus its stop words) and
    alignment keys; and the units of its windows that claims were aligned to so far."""

    texts: tuple[str, ...]
    words: tuple[frozenset[str], ...]
    keys: tuple[frozenset[str], ...]
    # (first sentence, sentences) -> unit, filled as claims ask: the document is cached with its text,
    # so a window of a recurring chunk is unioned once. A unit depends on its text alone, so two
    # threads filling the same key store equal values (dict stores are atomic). At most 3 windows a
    # sentence, each of at most 3 sentences: the entry stays proportional to its text, as the
    # cache's character bound assumes. Not part of equality or the hash (a cache, not a reading).
    windows: dict[tuple[int, int], Unit] = field(compare=False)

    def window(self, start: int, size: int) -> Unit:
        unit = self.windows.get((start, size))
        if unit is None:
            texts = self.texts[start : start + size]
            unit = self.windows[start, size] = _union(texts, [analyze(t) for t in texts])
        return unit


_is_stop_word = STOP_WORDS.__contains__
NUMBER_RE = re.compile(r"[0-9]++(?:[.,][0-9]++)*+")  # the numbers a text states, as written
_DIGIT = frozenset("0123456789").__contains__  # NUMBER_RE's digits (str.isdigit takes every script's)
_SEPARATOR = frozenset(".,").__contains__
# Up to this many numbers of an answer are looked up in the contexts by substring scans; more, and every
# number the contexts state is read once (a NUMBER_RE pass), so the cost stays linear in the input.
_SCANNED_NUMBERS = 8


def _states(text: str, number: str) -> bool:
    """Whether ``text`` states ``number`` (a NUMBER_RE match) as written: an occurrence that is a whole
    match of NUMBER_RE, neither continuing a number before it ("1,200" holds "200" but does not state
    it) nor continued after it."""
    size, n = len(number), len(text)
    i = text.find(number)
    while i != -1:
        end = i + size
        starts = not (i and _DIGIT(text[i - 1])) and not (i > 1 and _SEPARATOR(text[i - 1]) and _DIGIT(text[i - 2]))
        ends = not (end < n and _DIGIT(text[end])) and not (
            end + 1 < n and _SEPARATOR(text[end]) and _DIGIT(text[end + 1])
        )
        if starts and ends:
            return True
        i = text.find(number, i + 1)
    return False


@text_cache(max_entries=4_096, max_chars=8_000_000)
def _document_sentences(text: str) -> _Sentences:
    """Per document text (chunks recur across answers): split and tokenized once, for the evidence
    and for aligning claims alike."""
    texts = tuple(split_sentences(strip_citations(text)))
    # Stop words filtered in C on the way into one set (rather than a set, then its difference).
    words = tuple([frozenset(filterfalse(_is_stop_word, tokens(t))) for t in texts])
    keys = tuple([frozenset(map(_prefix, w)) for w in words])
    return _Sentences(texts, words, keys, {})


@dataclass(frozen=True, slots=True)
class SentenceIndex:
    """Every document's sentences, at most MAX_UNITS in all (the first documents first: retrieval ranks
    them; the cut is counted once per context), for aligning claims to them. The words past the bound
    still count as words the context contains (``rest_words``)."""

    sentences: tuple[str, ...]
    words: tuple[frozenset[str], ...]
    keys: tuple[frozenset[str], ...]
    docs: tuple[int, ...]
    texts: tuple[str, ...] = ()  # every context, whole (the numbers they state: ``unstated``)
    rest_words: frozenset[str] = frozenset()
    cut: bool = False  # whether sentences past MAX_UNITS were left out (their words are rest_words)
    documents: tuple[_Sentences, ...] = ()  # each context's sentences (their windows' units)
    firsts: tuple[int, ...] = ()  # the index of each context's first sentence here

    def unstated(self, numbers: Collection[str]) -> set[str]:
        """Those of ``numbers`` (NUMBER_RE matches) that no context states as written. Only the answer's
        few numbers are looked for, not every number of every context read (an answer often has none)."""
        if len(numbers) > _SCANNED_NUMBERS:
            stated = {n for text in self.texts for n in NUMBER_RE.findall(text)}
            return {n for n in numbers if n not in stated}
        # One text to scan: the line breaks between contexts are neither digits nor separators, so no
        # number runs from one context into the next.
        joined = "\n".join(self.texts)
        return {n for n in numbers if not _states(joined, n)}

    def aligned(self, claim: str, windows: bool) -> ContextUnits:
        """The units a claim may rest on: its ALIGN_TOP best sentences and, with ``windows``, the windows
        of two and three sentences of the same document around each. Singles first (ties go to them)."""
        return self.around(self.best(claim), windows)

    def best(self, claim: str) -> tuple[int, ...]:
        """The claim's ALIGN_TOP best sentences, by shared alignment keys (ties: the earlier sentence)."""
        keys = alignment_keys(frozenset(tokens(claim)) - STOP_WORDS)
        isdisjoint = keys.isdisjoint
        # (-shared, sentence) pairs sort as they are: most shared first, ties to the earlier sentence.
        ranked = sorted([(-len(keys & k), i) for i, k in enumerate(self.keys) if not isdisjoint(k)])
        return tuple(i for _, i in ranked[:ALIGN_TOP])

    def around(self, best: Sequence[int], windows: bool) -> ContextUnits:
        """The units of the ``best`` sentences and, with ``windows``, the windows around them."""
        spans: list[tuple[int, int]] = [(i, i + 1) for i in best]
        if windows:
            docs, n = self.docs, len(self.sentences)
            for i in best:
                for start, end in ((i - 1, i + 1), (i, i + 2), (i - 1, i + 2), (i, i + 3), (i - 2, i + 1)):
                    if start >= 0 and end <= n and docs[start] == docs[end - 1]:
                        spans.append((start, end))
        unique = dict.fromkeys(spans)  # in order, each once
        documents, firsts = self.documents, self.firsts
        units = []
        doc_of = []
        for start, end in unique:
            d = self.docs[start]
            units.append(documents[d].window(start - firsts[d], end - start))
            doc_of.append(d)
        return ContextUnits(tuple(units), tuple(doc_of))


def _union(sentences: Sequence[str], analyses: Sequence[Analysis]) -> Unit:
    """One unit of adjacent sentences: their text joined, their terms, quantities and qualifiers."""
    if len(analyses) == 1:
        a = analyses[0]
        return Unit(sentences[0], a.terms, a.quantities, a.qualifiers)
    return Unit(
        " ".join(sentences),
        frozenset().union(*(a.terms for a in analyses)),
        frozenset().union(*(a.quantities for a in analyses)),
        frozenset().union(*(a.qualifiers for a in analyses)),
    )


def sentence_index(contexts: Sequence[str]) -> SentenceIndex:
    """Every document's sentences (split and tokenized once per text), at most MAX_UNITS in all;
    ``cut`` says whether the bound left some out (the answer's analysis counts it: ``index_of``)."""
    sentences: list[str] = []
    words: list[frozenset[str]] = []
    keys: list[frozenset[str]] = []
    docs: list[int] = []
    documents: list[_Sentences] = []
    firsts: list[int] = []
    rest: set[str] = set()
    cut = False
    for d, text in enumerate(contexts):
        doc = _document_sentences(text)
        documents.append(doc)
        firsts.append(len(sentences))
        take = max(0, min(limits.MAX_UNITS - len(sentences), len(doc.texts)))
        if take < len(doc.texts):
            cut = True
            for w in doc.words[take:]:
                rest |= w
        sentences.extend(doc.texts[:take])
        words.extend(doc.words[:take])
        keys.extend(doc.keys[:take])
        docs.extend([d] * take)
    return SentenceIndex(
        tuple(sentences),
        tuple(words),
        tuple(keys),
        tuple(docs),
        tuple(contexts),
        frozenset(rest),
        cut,
        tuple(documents),
        tuple(firsts),
    )


def index_of(interaction: Interaction) -> SentenceIndex | None:
    """The sentence index of the interaction's context: the faithfulness evidence and the claim
    checks read the same one."""
    return _context_reading(interaction, "sentence_index", sentence_index)
