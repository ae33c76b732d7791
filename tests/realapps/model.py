"""The model behind the real-application matrix: the local OpenAI/Anthropic-compatible server with a
scripted responder (each handbook question gets its planted answer, whatever prompt template carries
it) and word-hash embeddings, so the apps' own vector stores retrieve by meaning of a kind."""

from __future__ import annotations

import math
import re
import zlib
from typing import Any

from mre.examples.llm_server import FaultPlan, FaultyLLMServer, Responder, ServedAnswer
from tests.realapps.handbook import case_for

DIMENSIONS = 256
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    {
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
        "at",
        "i",
        "my",
        "can",
        "many",
        "much",
        "long",
        "often",
        "up",
        "and",
        "or",
        "it",
        "its",
        "per",
        "your",
        "you",
    }
)
MODEL = "gpt-4o-mini"
ABSTAIN = "I don't know: the documents I was given do not answer that."


def embed(text: str) -> list[float]:
    """Hashed bag of word stems (first five letters), unit length."""
    vector = [0.0] * DIMENSIONS
    for word in _WORD.findall(text.lower()):
        if word not in _STOP:
            vector[zlib.crc32(word[:5].encode()) % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class ScriptedResponder(Responder):
    """Answers each handbook question with its scripted answer, found anywhere in the prompt."""

    def __init__(self) -> None:
        super().__init__(FaultPlan(rates={}, model=MODEL, style=False))

    def respond(self, messages: list[dict[str, Any]]) -> ServedAnswer:
        # The *last* question asked is the one to answer (multi-turn apps carry earlier ones).
        for message in reversed(messages):
            case = case_for(str(message.get("content", "")))
            if case is not None:
                return ServedAnswer(case.question, True, case.fault, case.answer, model=MODEL)
        return ServedAnswer("", False, None, ABSTAIN, model=MODEL)


def start_server() -> FaultyLLMServer:
    return FaultyLLMServer(responder=ScriptedResponder(), embed=embed).start()
