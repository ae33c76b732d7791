"""Text primitives the offline scorers share: sentences, claims, terms, quantities and qualifiers.

Pure functions, no model: fast enough to run on every production answer. Terms are lower-cased and
lightly stemmed so that "refunds"/"refund" and "approved"/"approval" meet; numbers and qualifiers
are pulled out separately because they must *match*, not merely overlap.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

from mre.processor.scorers._cache import clear_with_caches, text_cache

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "we",
        "our",
        "you",
        "your",
        "i",
        "me",
        "my",
        "mine",
        "do",
        "does",
        "did",
        "done",
        "have",
        "has",
        "had",
        "having",
        "can",
        "could",
        "should",
        "would",
        "may",
        "might",
        "must",
        "shall",
        "will",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "if",
        "then",
        "than",
        "so",
        "such",
        "into",
        "onto",
        "about",
        "over",
        "under",
        "up",
        "down",
        "out",
        "off",
        "again",
        "further",
        "once",
        "here",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "own",
        "same",
        "too",
        "very",
        "just",
        "also",
        "per",
        "via",
        "within",
        "upon",
        "whether",
        "while",
        "during",
        "before",
        "after",
        "above",
        "below",
        "between",
        "through",
        "yes",
        "please",
        "according",
        "based",
        "provided",
        "document",
        "documents",
        "context",
        # Hedges and fillers carry no fact to check.
        "think",
        "believe",
        "seems",
        "seem",
        "probably",
        "likely",
        "perhaps",
        "possibly",
        "maybe",
        "certainly",
        "definitely",
        "actually",
        "basically",
        "generally",
        "usually",
    ]
)

# Qualifiers change what a sentence claims. Dropping one ("except ...", "unless ...", "not") turns a
# true statement into a false one, so a claim must carry every qualifier of the passage it rests on.
QUALIFIERS = frozenset(
    [
        "except",
        "unless",
        "only",
        "not",
        "no",
        "never",
        "nor",
        "contraindicated",
        "excluding",
        "exclude",
        "excludes",
        "without",
        "prohibited",
        "forbidden",
        "cannot",
        "neither",
    ]
)
NEGATIONS = frozenset(
    ["not", "no", "never", "nor", "cannot", "neither"]
)  # "without" stays itself: it often co-occurs with "not"
_CONTRACTIONS = {"can't": "can not", "won't": "will not", "n't": " not", "cannot": "can not"}

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z\-']*|\d+(?:[.,]\d+)*")
_CITATION_RE = re.compile(
    r"\[[A-Za-z0-9_.:\-]{1,120}+(?:[ \t]{0,3}+,[ \t]{0,3}+[A-Za-z0-9_.:\-]{1,120}+){0,20}+\]"
    r"|\((?:source|see)[^)]{0,200}+\)",
    re.I,
)
_SENT_SPLIT_RE = re.compile(r"(?<=[.!?;])\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_ABBREV_RE = re.compile(r"\b(e\.g|i\.e|etc|vs|approx|no|dr|mr|mrs|ms|inc|ltd|fig|sec)\.$", re.I)
# The letter before the final "." of every abbreviation above, in each case re.I matches (and "ſ", which
# it matches for "s"): a sentence ending otherwise is not searched.
_ABBREV_LAST = frozenset("gecsxordGECSXORDſ")

_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "twice": 2,
    "half": 0.5,
    "once": 1,
}
_NUMBER_WORD_SET = frozenset(_NUMBER_WORDS)
_NOT_TERMS = QUALIFIERS | _NUMBER_WORD_SET | STOPWORDS
_NOT_QUANTITIES = frozenset({"once", "half"})
# A number with the unit after it. The currency sign before it is read by looking back from the match
# (``_currency``): a pattern that may start at a sign or a space is tried at every position of the
# text, one that starts at a digit is found by the engine's scan for one (half the cost per sentence).
# Matches are the same: the optional "[$€£]?\s?" prefix never changes where a number starts or ends.
_QUANTITY_RE = re.compile(r"(?P<num>\d+(?:,\d{3})*(?:\.\d+)?)\s?(?P<unit>%|percent\b|[a-zA-Z]{1,12}\b)?")
_CURRENCIES = "$€£"


def _currency(text: str, start: int) -> str | None:
    """The currency sign right before a number at ``start``, or before the one whitespace there."""
    if start and text[start - 1] in _CURRENCIES:
        return text[start - 1]
    if start > 1 and text[start - 1].isspace() and text[start - 2] in _CURRENCIES:
        return text[start - 2]
    return None


_UNIT_ALIASES = {
    "percent": "%",
    "pct": "%",
    "days": "day",
    "weeks": "week",
    "months": "month",
    "years": "year",
    "hours": "hour",
    "hrs": "hour",
    "hr": "hour",
    "minutes": "minute",
    "mins": "minute",
    "min": "minute",
    "milligrams": "mg",
    "milligram": "mg",
    "grams": "g",
    "gram": "g",
    "kilograms": "kg",
    "micrograms": "mcg",
    "ug": "mcg",
    "millilitres": "ml",
    "milliliters": "ml",
    "ml": "ml",
    "dollars": "$",
    "usd": "$",
    "euros": "€",
    "eur": "€",
    "times": "time",
    "tablets": "tablet",
    "doses": "dose",
    "nights": "night",
    "employees": "employee",
    "people": "person",
    "persons": "person",
    "kilometres": "km",
    "kilometers": "km",
    "miles": "mile",
    "gb": "gb",
    "tb": "tb",
    "business": "day",  # "5 business days" -> day
}
_MEASURE_UNITS = frozenset(
    [
        "%",
        "day",
        "week",
        "month",
        "year",
        "hour",
        "minute",
        "mg",
        "g",
        "kg",
        "mcg",
        "ml",
        "$",
        "€",
        "£",
        "time",
        "tablet",
        "dose",
        "night",
        "km",
        "mile",
        "gb",
        "tb",
    ]
)


class Quantity(NamedTuple):
    """A number with its unit. A named tuple, not a frozen dataclass: every sentence's quantities are
    built, hashed and looked up in sets on the hot path, and a tuple's hash is computed in C (the
    dataclass's was the same tuple hash, from Python: set order and equality are unchanged)."""

    value: float
    unit: str | None  # normalized unit, or None when the number stands alone


_ENDS = ".!?;"
_BOUNDARIES = (*((end, 1) for end in _ENDS), ("\n", 0))  # where a boundary may start: after, or at
_STARTS_SENTENCE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_OPENERS = frozenset("\"'([")


def _sentence_pieces(text: str) -> list[str]:
    """``_SENT_SPLIT_RE.split(text)``, found by C substring scans: the regex tries every character
    position, while a boundary can only start right after a sentence end or at a newline, a few per
    sentence. Texts dense in such characters (hostile ones) take the regex, linear as well."""
    n = len(text)
    most = 64 + n // 16
    # Candidate starts: right after each sentence end, and at each newline. A start found twice (after
    # a "." and at a "\n") is read the same both times, so a list does; sorting an already sorted one
    # (a single kind of boundary, the usual text) costs one pass.
    starts: list[int] = []
    for ch, offset in _BOUNDARIES:
        if ch not in text:  # an operator, not a method call: most texts hold one or two kinds
            continue
        i = text.find(ch)
        while i != -1:
            starts.append(i + offset)
            if len(starts) > most:
                return _SENT_SPLIT_RE.split(text)
            i = text.find(ch, i + 1)
    starts.sort()
    pieces: list[str] = []
    pos = 0
    for s in starts:
        if s < pos or s >= n:
            continue
        end = -1
        if s and text[s - 1] in _ENDS and text[s].isspace():
            # (?<=[.!?;])\s+(?=["'(\[]?[A-Z0-9]): the whole whitespace run, then the lookahead (a
            # shorter run would leave whitespace for the lookahead, which never matches it).
            j = s + 1
            while j < n and text[j].isspace():
                j += 1
            if j < n and (
                text[j] in _STARTS_SENTENCE or (text[j] in _OPENERS and j + 1 < n and text[j + 1] in _STARTS_SENTENCE)
            ):
                end = j
        if end < 0 and text[s] == "\n":
            j = s + 1
            while j < n and text[j] == "\n":
                j += 1
            end = j
        if end > 0:
            pieces.append(text[pos:s])
            pos = end
    pieces.append(text[pos:])
    return pieces


def split_sentences(text: str) -> list[str]:
    """Split into sentences; keeps "e.g." and decimals together, splits on ';' too (clauses)."""
    parts: list[str] = []
    buffer = ""
    for piece in _sentence_pieces(text):
        stripped = piece.strip()
        if not stripped:
            continue
        candidate = f"{buffer} {piece}".strip() if buffer else stripped
        if (
            candidate[-1] == "."
            and len(candidate) > 1
            and candidate[-2] in _ABBREV_LAST
            and _ABBREV_RE.search(candidate[-8:])
        ):
            buffer = candidate
            continue
        parts.append(candidate)
        buffer = ""
    if buffer:
        parts.append(buffer)
    return parts


def strip_citations(text: str) -> str:
    # Every citation starts with "[" or "(s"/"(S": a text with neither (most chunks) is returned as
    # is, after a few C-speed substring scans instead of a regex pass.
    if "[" not in text and "(s" not in text and "(S" not in text:
        return text
    return _CITATION_RE.sub("", text)


# The suffix rules in the order they are tried; grouped by last letter below, so a word is tested only
# against the rules that can match it (the order within a group is the order here).
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("ies", "y"),
    ("ied", "y"),
    ("sses", "ss"),
    ("ations", "ate"),
    ("ation", "ate"),
    ("ments", ""),
    ("ment", ""),
    ("ings", ""),
    ("ing", ""),
    ("edly", ""),
    ("ed", ""),
    ("ers", "er"),
    ("ly", ""),
    ("es", ""),
    ("s", ""),
)
_SUFFIXES_BY_LAST: dict[str, tuple[tuple[str, str], ...]] = {
    last: tuple(rule for rule in _SUFFIXES if rule[0][-1] == last) for last in {s[-1] for s, _ in _SUFFIXES}
}


def stem(word: str) -> str:
    """A light, deterministic suffix stripper (enough for policy and QA text; no model)."""
    w = word
    if len(w) <= 3:
        return w
    for suffix, repl in _SUFFIXES_BY_LAST.get(w[-1], ()):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + repl
            break
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    # Truncation merges what suffix stripping misses (approval/approved, refundable/refund).
    return w[:6]


def words(text: str) -> list[str]:
    lowered = text.lower().replace("’", "'")
    if "'" in lowered or "cannot" in lowered:  # every contraction has one of these
        for contraction, expansion in _CONTRACTIONS.items():
            lowered = lowered.replace(contraction, expansion)
    return _WORD_RE.findall(lowered)


_STEM_CACHED_LEN = 40  # longer "words" (hostile input, identifiers) are stemmed but never kept


@functools.lru_cache(maxsize=32_768)
def _stem_short(word: str) -> str:
    return stem(word)


clear_with_caches(_stem_short)  # the benchmark's cold runs start without stems too


def _stem_cached(word: str) -> str:
    """The vocabulary's stems, memoized (a C-level cache: the hot path stems every context word);
    bounded in entries and, through the length cut, in bytes."""
    return _stem_short(word) if len(word) <= _STEM_CACHED_LEN else stem(word)


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the scorers need from one sentence, computed in one pass over its words."""

    terms: frozenset[str]
    qualifiers: frozenset[str]
    quantities: frozenset[Quantity]


@text_cache(max_entries=16_384, max_chars=8_000_000)
def analyze(text: str) -> Analysis:
    """Cached per sentence: retrieved chunks recur across answers, so their sentences are analysed once."""
    tokens = words(text)
    # One pass over the distinct words, in set operations; only a sentence with a number word walks
    # its tokens in order (the unit is the word after the number).
    distinct = set(tokens)
    quals = {"not" if w in NEGATIONS else w for w in distinct & QUALIFIERS}
    found: set[Quantity] = set()
    if not distinct.isdisjoint(_NUMBER_WORD_SET):
        for i, w in enumerate(tokens):
            if w in _NUMBER_WORDS and w not in QUALIFIERS and w not in _NOT_QUANTITIES:
                unit = _normalize_unit(tokens[i + 1]) if i + 1 < len(tokens) else None
                found.add(Quantity(float(_NUMBER_WORDS[w]), unit))
    terms = _terms(distinct)
    for m in _QUANTITY_RE.finditer(text):
        raw = m.group("num").replace(",", "")
        try:
            value = float(raw)
        except ValueError:
            continue
        found.add(Quantity(value, _normalize_unit(_currency(text, m.start()) or m.group("unit"))))
    return Analysis(frozenset(terms), frozenset(quals), frozenset(found))


def _terms(distinct: set[str]) -> set[str]:
    """The stemmed content words among a text's distinct words (``analyze`` and ``text_terms`` share it)."""
    return {_stem_cached(w.strip("'-")) for w in distinct - _NOT_TERMS if len(w) >= 2 and not w[0].isdigit()}


@text_cache(max_entries=4_096, max_chars=8_000_000)
def text_terms(text: str) -> frozenset[str]:
    """``analyze(text).terms`` without the qualifiers and quantities, per text: what reads a whole
    document's terms alone (context precision) skips the quantity scan of every new document, and
    leaves the sentence analyses' cache to sentences."""
    return frozenset(_terms(set(words(text))))


def content_terms(text: str) -> frozenset[str]:
    """Stemmed content words (no stopwords, no qualifiers, no numbers)."""
    return analyze(text).terms


def qualifiers(text: str) -> frozenset[str]:
    return analyze(text).qualifiers


def quantities(text: str) -> frozenset[Quantity]:
    """Numbers with their unit: "$1,200", "30 days", "2.5 mg", "15%", "twelve weeks"."""
    return analyze(text).quantities


def _normalize_unit(unit: str | None) -> str | None:
    if not unit:
        return None
    u = unit.lower()
    u = _UNIT_ALIASES.get(u, u)
    if u not in _MEASURE_UNITS:
        singular = u[:-1] if u.endswith("s") else u
        u = singular if singular in _MEASURE_UNITS else u
    return u if u in _MEASURE_UNITS else None


def quantity_supported(q: Quantity, source: frozenset[Quantity], values: frozenset[float] | None = None) -> bool:
    """A claimed quantity is supported when the source has the same value with a compatible unit (a
    unitless number on either side matches any unit). Set lookups, not a scan: a sentence may hold
    thousands of numbers. ``values`` (the source's values) may be passed when checking many."""
    if q in source or Quantity(q.value, None) in source:
        return True
    if q.unit is None:
        return q.value in (values if values is not None else quantity_values(source))
    return False


def quantity_values(source: frozenset[Quantity]) -> frozenset[float]:
    return frozenset(s.value for s in source)


_ABSTAIN_RE = re.compile(
    r"\b(i\s+(?:do\s+not|don't|cannot|can't|could\s+not|couldn't|was\s+(?:not\s+able|unable)\s+to|"
    r"am\s+unable\s+to|am\s+not\s+able\s+to|have\s+no)\s+"
    r"(?:know|answer|find|determine|say|tell|provide|locate|information|data)"
    r"|(?:cannot|can't|unable\s+to)\s+(?:be\s+)?(?:answer|determine|find|answered|determined|found)"
    r"|(?:not|no)\s+enough\s+information|insufficient\s+information|no\s+(?:relevant\s+)?information"
    r"|(?:documents?|context|passages?|sources?|information|texts?|materials?)\s+(?:provided\s+|given\s+|available\s+)?"
    r"(?:does|do)\s+not\s+(?:contain|mention|provide|specify|include|cover|say|address|answer)"
    r"|(?:is|are)\s+not\s+(?:mentioned|covered|specified|available|provided|addressed)\s+in"
    r"|there\s+is\s+no\s+(?:mention|information|answer)"
    r"|outside\s+(?:the\s+)?scope|not\s+in\s+the\s+(?:provided\s+)?(?:context|documents?))",
    re.I,
)


# Every match of _ABSTAIN_RE holds one of these (lower-cased): an ASCII head without any is not
# searched, sparing most answers the regex's ten alternatives tried at every position (``may_hold``:
# "ufficient" holds an "i", which re.I also matches as the dotted or dotless I).
_ABSTAIN_MARKS = ("no", "n't", "unable", "ufficient", "out")


def ascii_lowered(text: str) -> str | None:
    """``text.lower()`` when re.I on ``text`` is plain ASCII case folding: on ASCII text. Elsewhere
    None: re.I folds the dotted and dotless I onto "i", the Kelvin sign onto "k" and the long s onto
    "s", which lower() leaves apart, so a literal pre-check could miss a match."""
    return text.lower() if text.isascii() else None


def may_hold(marks: tuple[str, ...], lowered: str | None) -> bool:
    """Whether a text (``ascii_lowered``) may match a re.I pattern every match of which holds one of
    ``marks`` (lower case): False only when it is ASCII and holds none of them."""
    return lowered is None or any(mark in lowered for mark in marks)


_SYNTAX = frozenset("\\()[]{}?*+|.^$")
_MAKES_OPTIONAL = frozenset("?*{")  # the character before it may be absent from a match


def _opening(phrase: str) -> str:
    """The literal every match of ``phrase`` (a regex) opens with, lower-cased: its text up to the first
    regex syntax, less a last character that syntax makes optional ("savages?" opens with "savage")."""
    depth = 0
    for c in phrase:  # a top-level "|" would make the phrase two, the second with no opening of its own
        depth += (c == "(") - (c == ")")
        if c == "|" and depth == 0:
            raise ValueError(f"phrase {phrase!r} holds a top-level '|': give each alternative as a phrase")
    literal = phrase
    for i, c in enumerate(phrase):
        if c in _SYNTAX:
            literal = phrase[: max(i - 1, 0)] if c in _MAKES_OPTIONAL else phrase[:i]
            break
    if not literal:
        raise ValueError(f"phrase {phrase!r} opens with no literal for the pre-check to look for")
    return literal.lower()


@dataclass(frozen=True, slots=True)
class Phrases:
    """A case-insensitive alternation of phrases and the literals one of which every match holds,
    derived from the phrases themselves (``phrases``): a phrase cannot be added without its mark."""

    pattern: re.Pattern[str]
    marks: tuple[str, ...]

    def search(self, text: str, lowered: str | None) -> bool:
        """Whether ``pattern`` matches ``text`` (``lowered``: its ``ascii_lowered``, shared by the
        patterns a scorer runs over one text); an ASCII text holding no mark is not scanned."""
        return may_hold(self.marks, lowered) and self.pattern.search(text) is not None


def phrases(*alternatives: str, whole_words: bool = True) -> Phrases:
    """``re.I`` over ``alternatives`` (regexes that each open with a literal), ``\\b``-bounded when
    ``whole_words``."""
    openings = list(dict.fromkeys(_opening(a) for a in alternatives))  # first: a clear error, not re's
    body = "|".join(alternatives)
    pattern = re.compile(rf"\b(?:{body})\b" if whole_words else f"(?:{body})", re.I)
    # A mark holding another mark adds nothing to the check ("idiots" holds "idiot").
    marks = tuple(m for m in openings if not any(o != m and o in m for o in openings))
    return Phrases(pattern, marks)


def is_abstention(answer: str) -> bool:
    """An answer that declines to answer. Only the opening of the answer counts: a long answer that
    mentions a gap in passing still answers."""
    head = " ".join(split_sentences(answer)[:2])
    if not may_hold(_ABSTAIN_MARKS, ascii_lowered(head)):
        return False
    return bool(_ABSTAIN_RE.search(head)) and len(words(answer)) <= 60


QUESTION_WORDS = frozenset(
    ["what", "which", "who", "whom", "whose", "when", "where", "why", "how", "many", "much", "long", "often"]
)


def question_terms(question: str) -> frozenset[str]:
    return frozenset(t for t in content_terms(question) if t not in QUESTION_WORDS)
