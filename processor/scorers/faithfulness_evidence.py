"""The named evidence the faithfulness model combines: word overlap first, then what the structured
checks find. Every feature is 0 for an answer the context fully bears out and grows with the evidence
against it, so the model's weights on them are all non-positive (more evidence, lower P(faithful)).

One pass over the text: the context is split and tokenized once per document (the unsupported-word
baseline's tokens; ``_context.sentence_index``, which the claim checks share); each answer sentence
is aligned to its best source sentence (max coverage, as SummaC aligns a claim to the best source
window, so long sources work). Work is bounded: at most ``limits.MAX_CLAIMS`` answer sentences
against at most ``limits.MAX_UNITS`` source sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mre.processor import limits
from mre.processor.baselines import STOP_WORDS, tokens, unsupported_share
from mre.processor.scorers._context import NUMBER_RE, SentenceIndex

# Sentence ends in the answer: cheaper than the claim splitter and, on the labelled data, as good.
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
# Negation among the baseline's tokens (``tokens``), which split at the apostrophe: "don't" is "don"
# and "t", so a contraction is known by the part before it (and by its spelling without one, "dont").
# Not text.NEGATIONS, which reads the claim splitter's words, where "n't" is already expanded to "not".
_CONTRACTED = [
    "don",
    "doesn",
    "didn",
    "isn",
    "wasn",
    "aren",
    "weren",
    "couldn",
    "shouldn",
    "wouldn",
    "hasn",
    "haven",
    "hadn",
    "mustn",
    "needn",
]
NEGATION_TOKENS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "without",
        "cannot",
        *_CONTRACTED,
        *(part + "t" for part in _CONTRACTED),
        "wont",
    ]
)
MAX_NEW_NUMBERS = 3  # a fourth invented number says nothing the third did not


# The evidence, in the order ``overlap_evidence`` returns it; each in [0, 1], 0 is "no evidence against":
# the share of answer content words absent from the context; 1 - the mean over answer sentences of its
# best source sentence's coverage; numbers the context never states (capped, as a share of the cap);
# 1 when the answer negates and the context never does.
FEATURES: tuple[str, ...] = ("unsupported_words", "sentence_gap", "new_numbers", "new_negation")


def overlap_evidence(answer: str, index: SentenceIndex) -> tuple[float, float, float, float]:
    """The evidence named in FEATURES, from the text alone: the answer against its context's sentences."""
    return sentence_evidence(SENTENCE_RE.split(answer), index)


def sentence_evidence(sentences: Sequence[str], index: SentenceIndex) -> tuple[float, float, float, float]:
    """:func:`overlap_evidence` of an answer already split at SENTENCE_RE (none of ``sentences`` holds a
    sentence end or a line break, so no number runs across two of them)."""
    answer_sentences = [tokens(sentence) for sentence in sentences]
    answer_tokens = [t for toks in answer_sentences for t in toks]
    # What each context sentence holds of the answer's words: only these can count toward coverage or
    # support (the context's other words never meet the answer), so the context's vocabulary is never
    # built whole. Sentence words carry no stop words, as the baseline never counts them either way.
    sentence_words = [frozenset(toks) - STOP_WORDS for toks in answer_sentences]
    vocab = frozenset().union(*sentence_words)
    hits = [hit for words in index.words if (hit := vocab & words)]
    present_all = frozenset().union(vocab & index.rest_words, *hits)
    unsupported = unsupported_share(answer_tokens, present_all)

    coverages: list[float] = []
    for words in sentence_words:
        if not words:
            continue
        if len(coverages) == limits.MAX_CLAIMS:
            limits.CUTS.record(limits.CLAIMS)
            break
        present = words & present_all
        best = max((len(present & hit) for hit in hits), default=0) if present else 0
        coverages.append(best / len(words))
    gap = 1.0 - sum(coverages) / len(coverages) if coverages else 0.0

    invented = index.unstated({n for sentence in sentences for n in NUMBER_RE.findall(sentence)})
    new_numbers = min(len(invented), MAX_NEW_NUMBERS) / MAX_NEW_NUMBERS
    new_negation = 1.0 if not NEGATION_TOKENS.isdisjoint(answer_tokens) and not _negates(index) else 0.0
    return unsupported, gap, new_numbers, new_negation


def _negates(index: SentenceIndex) -> bool:
    """Whether any context sentence negates (asked only of an answer that does)."""
    isdisjoint = NEGATION_TOKENS.isdisjoint
    return not isdisjoint(index.rest_words) or not all(isdisjoint(words) for words in index.words)
