"""Cheap baselines every scorer is measured against in `mre eval`: a scorer that does not beat them
on labelled data adds nothing over them.

- ``unsupported_words``: the share of the answer's words (lower-cased alphanumeric tokens, minus 30
  stop words) that the context does not contain; fewer means more faithful. An answer with no content
  word scores 0. This is the definition ``shared/data/faithfulness_dev/README.md`` uses for its
  baseline column, so the figures can be compared with that table.
- ``answer_length``: the number of answer tokens; shorter means more faithful (a length artefact
  some data sets carry, HaluEval's among them).

Each baseline maps an interaction to a value where higher means more faithful (the negated share or
length), so AUROC reads the same way as for scorers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from types import MappingProxyType

from mre.model import Interaction

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "for",
        "from",
        "had",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "which",
        "with",
    ]
)
_TOKEN = re.compile(r"[a-z0-9]+")


# ASCII text (most of it) is lower-cased and cut in one C pass: every ASCII character that is not a
# letter or digit becomes a space, then ``split``; the same tokens as the regex at a fraction of its cost.
# The pass is over bytes: ``bytes.translate`` reads a 256-byte table, where ``str.translate`` looks each
# distinct character up in a dict on every call (the encode and decode of ASCII cost less than that).
_ASCII_TOKEN_TABLE = bytes(
    (ord(chr(c).lower()) if chr(c).isalnum() else ord(" ")) if c < 128 else ord(" ") for c in range(256)
)


def tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens: the baseline's words, which the faithfulness evidence shares."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_TOKEN_TABLE).decode("ascii").split()
    return _TOKEN.findall(text.lower())


def unsupported_word_share(answer: str, contexts: tuple[str, ...] | list[str]) -> float:
    context: set[str] = set()
    for text in contexts:
        context.update(tokens(text))
    return unsupported_share(tokens(answer), context)


def unsupported_share(answer_tokens: Sequence[str], context_tokens: AbstractSet[str]) -> float:
    """The baseline from tokens already made (the faithfulness evidence tokenizes the context once)."""
    words = [w for w in answer_tokens if w not in STOP_WORDS]
    if not words:
        return 0.0
    return sum(1 for w in words if w not in context_tokens) / len(words)


def _contexts(interaction: Interaction) -> list[str]:
    return list(interaction.contexts or ())


def unsupported_words(interaction: Interaction) -> float:
    return -unsupported_word_share(interaction.answer or "", _contexts(interaction))


def answer_length(interaction: Interaction) -> float:
    return -float(len(tokens(interaction.answer or "")))


BASELINES: Mapping[str, Callable[[Interaction], float]] = MappingProxyType(
    {"unsupported_words": unsupported_words, "answer_length": answer_length}
)
