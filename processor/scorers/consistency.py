"""Consistency: the same (normalized) question within a window should get the same key facts.

Stateful by nature: it remembers, per normalized question, the key facts (numbers with units, named
entities) of recent answers, in a bounded LRU. In `mre serve`, routing by trace id sends repeats of a
question to different replicas: each replica judges the repeats it sees (see DESIGN.md, scale-out).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from mre.model import Interaction, Score
from mre.processor.scorers.analysis import analysis_of
from mre.processor.scorers.text import quantities, question_terms

_ENTITY = re.compile(r"\b[A-Z][a-z]++(?:[ \t]{1,3}+[A-Z][a-z]++)*+\b")  # bounded, possessive: linear


def _facts(answer: str) -> frozenset[str]:
    facts = {f"{q.value:g}{q.unit or ''}" for q in quantities(answer)}
    entities = _ENTITY.findall(answer)
    facts.update(e.lower() for e in entities[1:])  # the first capitalized word is usually just the sentence start
    return frozenset(facts)


@dataclass
class _Seen:
    facts: frozenset[str]
    at: float
    count: int


class ConsistencyScorer:
    def __init__(self, window_s: float = 3600.0, max_questions: int = 10_000) -> None:
        self.window_s = window_s
        self.max_questions = max_questions
        self._seen: OrderedDict[frozenset[str], _Seen] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, interaction: Interaction) -> Score | None:
        question, answer = interaction.question, interaction.answer
        if question is None or answer is None or analysis_of(interaction).abstains:
            return None
        key = question_terms(question)
        if not key:
            return None
        facts = _facts(answer)
        now = time.monotonic()
        with self._lock:
            previous = self._seen.get(key)
            if previous is not None and now - previous.at > self.window_s:
                previous = None
            self._seen[key] = _Seen(
                facts if previous is None else previous.facts, now, 1 if previous is None else previous.count + 1
            )
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_questions:
                self._seen.popitem(last=False)
        if previous is None or not previous.facts:
            return None  # first sighting (or nothing factual to compare): no verdict yet
        missing = previous.facts - facts
        added = facts - previous.facts
        value = len(previous.facts & facts) / len(previous.facts | facts) if facts else 0.0
        label = "consistent" if not missing and not added else "inconsistent"
        explanation = (
            f"same key facts as {previous.count} earlier answer(s)"
            if label == "consistent"
            else f"differs from earlier answers: missing {sorted(missing)}, new {sorted(added)}"
        )
        return Score("consistency", value, label, explanation, {"missing": sorted(missing), "added": sorted(added)})
