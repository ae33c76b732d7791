"""The named evidence the faithfulness model combines: word overlap first, then what the structured
checks find. Every feature is 0 for an answer the context fully bears out and grows with the evidence
against it, so the model's weights on them are all non-positive (more evidence, lower P(faithful)).

One pass over the text: the context is tokenized once (the unsupported-word baseline's tokens), its
sentences once; each answer sentence is aligned to its best source sentence (max coverage, as SummaC
aligns a claim to the best source window, so long sources work). Work is bounded: at most
``limits.MAX_CLAIMS`` answer sentences against at most ``limits.MAX_UNITS`` source sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mre.processor import limits
from mre.processor.baselines import STOP_WORDS, tokens, unsupported_share

# Sentence ends for alignment: cheaper than the claim splitter and, on the labelled data, as good.
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
_NUMBER_RE = re.compile(r"\d++(?:[.,]\d++)*+")
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


def overlap_evidence(answer: str, contexts: Sequence[str]) -> tuple[float, float, float, float]:
    """The evidence named in FEATURES, from the text alone."""
    context_tokens: set[str] = set()
    sentences: list[frozenset[str]] = []
    numbers: set[str] = set()
    unaligned = False  # some source text lies past the sentence bound
    for text in contexts:
        numbers.update(_NUMBER_RE.findall(text))
        if len(sentences) >= limits.MAX_UNITS:
            toks = tokens(text)  # past the bound: its words still count, in one call
            context_tokens.update(toks)
            unaligned = unaligned or bool(toks)
            continue
        # Tokenized once, sentence by sentence (the split only removes whitespace, which no token spans).
        for sentence in _SENTENCE_RE.split(text):
            toks = tokens(sentence)
            context_tokens.update(toks)
            words = frozenset(toks) - STOP_WORDS
            if words:
                sentences.append(words)
    if unaligned or len(sentences) > limits.MAX_UNITS:
        limits.CUTS.record(limits.UNITS)  # aligned to the first MAX_UNITS sentences (retrieval ranks them)
        del sentences[limits.MAX_UNITS :]
    answer_sentences = [tokens(sentence) for sentence in _SENTENCE_RE.split(answer)]
    answer_tokens = [t for toks in answer_sentences for t in toks]
    unsupported = unsupported_share(answer_tokens, context_tokens)

    coverages: list[float] = []
    for toks in answer_sentences:
        words = frozenset(toks) - STOP_WORDS
        if not words:
            continue
        if len(coverages) == limits.MAX_CLAIMS:
            limits.CUTS.record(limits.CLAIMS)
            break
        # Words no source sentence has cannot raise any sentence's coverage: intersect the rest only.
        present = words & context_tokens
        best = max((len(present & s) for s in sentences), default=0) if present else 0
        coverages.append(best / len(words))
    gap = 1.0 - sum(coverages) / len(coverages) if coverages else 0.0

    invented = {n for n in _NUMBER_RE.findall(answer) if n not in numbers}
    new_numbers = min(len(invented), MAX_NEW_NUMBERS) / MAX_NEW_NUMBERS
    negates = not NEGATIONS.isdisjoint(context_tokens)
    new_negation = 1.0 if not negates and not NEGATIONS.isdisjoint(answer_tokens) else 0.0
    return unsupported, gap, new_numbers, new_negation
