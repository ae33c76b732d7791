"""How much of an answer's content is analysed, and what is cut: documented, counted, never silent.

Scoring runs on every answer, so every text routine is linear in its input and the input itself is
bounded: an interaction's answer, question and documents are cut to the sizes below when it is
assembled (``mre_processor_content_truncated_total{field}`` counts each cut). A span attribute over
``mre.processor.otlp.MAX_ATTRIBUTE_BYTES`` is not read at all (counted as bad input), and a prompt is
read up to ``mre.processor.prompt_context.MAX_PROMPT_CHARS`` per message.
"""

from __future__ import annotations

import threading
from typing import Final

MAX_ANSWER_CHARS: Final = 32 * 1024
MAX_QUESTION_CHARS: Final = 4 * 1024
MAX_DOCUMENT_CHARS: Final = 32 * 1024
MAX_DOCUMENTS: Final = 200  # per interaction, over all its retrievals
# Claims are aligned to context units pairwise: both are bounded so that one answer costs at most
# MAX_CLAIMS x MAX_UNITS set intersections (well under a second), whatever its shape.
MAX_CLAIMS: Final = 64
MAX_UNITS: Final = 1_500  # sentences and their windows of two and three, over all documents
# A model judge (judges/nli.py) reads at most this many (premise, claim) pairs per answer: its cost per
# answer on CPU is this many forward passes at most.
MAX_JUDGE_PAIRS: Final = 48

ANSWER: Final = "answer"
QUESTION: Final = "question"
DOCUMENT: Final = "document"
DOCUMENTS: Final = "documents"
CLAIMS: Final = "claims"
UNITS: Final = "units"
PROMPT: Final = "prompt"  # a prompt message read up to prompt_context.MAX_PROMPT_CHARS
JUDGE_PAIRS: Final = "judge_pairs"  # an answer's (premise, claim) pairs beyond MAX_JUDGE_PAIRS
FIELDS: Final = (ANSWER, QUESTION, DOCUMENT, DOCUMENTS, CLAIMS, UNITS, PROMPT, JUDGE_PAIRS)


class Tally:
    """Thread-safe counts by key, read by /metrics (cuts here; data accepted and dropped in intake)."""

    def __init__(self, keys: tuple[str, ...] = ()) -> None:
        self._counts: dict[str, int] = dict.fromkeys(keys, 0)
        self._lock = threading.Lock()

    def record(self, field: str, n: int = 1) -> None:
        with self._lock:
            self._counts[field] = self._counts.get(field, 0) + n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


CUTS = Tally(FIELDS)


def cut(text: str | None, limit: int, field: str) -> str | None:
    if text is None or len(text) <= limit:
        return text
    CUTS.record(field)
    return text[:limit]
