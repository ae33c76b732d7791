"""A small in-memory BM25 index: the demo's vector store stand-in (real stores come with their own
instrumentation). Deliberately independent of mre's scoring code."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "is",
        "are",
        "do",
        "does",
        "how",
        "what",
        "when",
        "which",
        "who",
        "may",
        "must",
        "be",
        "by",
        "with",
    ]
)


def tokenize(text: str) -> list[str]:
    return [t[:6] for t in _TOKEN.findall(text.lower()) if t not in _STOP]


@dataclass(frozen=True, slots=True)
class Hit:
    index: int
    score: float


class BM25Index:
    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self._docs = [Counter(tokenize(t)) for t in texts]
        self._lengths = [sum(c.values()) for c in self._docs]
        self._avg = sum(self._lengths) / max(1, len(self._lengths))
        df: Counter[str] = Counter()
        for counts in self._docs:
            df.update(counts.keys())
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._k1, self._b = k1, b

    def search(self, query: str, top_k: int) -> list[Hit]:
        terms = tokenize(query)
        scored = []
        for i, counts in enumerate(self._docs):
            score = 0.0
            norm = self._k1 * (1 - self._b + self._b * self._lengths[i] / self._avg)
            for t in terms:
                tf = counts.get(t, 0)
                if tf:
                    score += self._idf.get(t, 0.0) * tf * (self._k1 + 1) / (tf + norm)
            scored.append(Hit(i, score))
        scored.sort(key=lambda h: h.score, reverse=True)
        return scored[:top_k]
