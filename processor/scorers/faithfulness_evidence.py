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

from mre.processor import limits
from mre.processor.baselines import STOP_WORDS, tokens, unsupported_share
from mre.processor.scorers._context import NUMBER_RE, SentenceIndex

# Sentence ends in the answer: cheaper than the claim splitter and, on the labelled data, as good.
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
NEGATIONS = frozenset(
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
        "dont",
        "didnt",
        "doesnt",
        "isnt",
        "wasnt",
        "arent",
        "werent",
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
    context_words = frozenset().union(index.rest_words, *index.words)
    answer_sentences = [tokens(sentence) for sentence in SENTENCE_RE.split(answer)]
    answer_tokens = [t for toks in answer_sentences for t in toks]
    unsupported = unsupported_share(answer_tokens, context_words)  # stop words never count either way

    coverages: list[float] = []
    for toks in answer_sentences:
        words = frozenset(toks) - STOP_WORDS
        if not words:
            continue
        if len(coverages) == limits.MAX_CLAIMS:
            limits.CUTS.record(limits.CLAIMS)
            break
        # Words no source sentence has cannot raise any sentence's coverage: intersect the rest only.
        present = words & context_words
        best = max((len(present & s) for s in index.words), default=0) if present else 0
        coverages.append(best / len(words))
    gap = 1.0 - sum(coverages) / len(coverages) if coverages else 0.0

    invented = {n for n in NUMBER_RE.findall(answer) if n not in index.numbers}
    new_numbers = min(len(invented), MAX_NEW_NUMBERS) / MAX_NEW_NUMBERS
    negates = not NEGATIONS.isdisjoint(context_words)
    new_negation = 1.0 if not negates and not NEGATIONS.isdisjoint(answer_tokens) else 0.0
    return unsupported, gap, new_numbers, new_negation
