"""What a dialect reader extracts from one span, before a trace is assembled into an Interaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mre.model import GuardrailCheck, Message, Retrieval


@dataclass(frozen=True, slots=True)
class GenerationStage:
    span_id: str
    dialect: str
    start_ns: int
    end_ns: int
    provider: str | None = None
    model: str | None = None
    response_id: str | None = None
    system_prompt: str | None = None
    input_messages: Sequence[Message] | None = None
    answer: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class RetrievalStage:
    dialect: str
    retrieval: Retrieval


@dataclass(frozen=True, slots=True)
class GuardrailStage:
    dialect: str
    check: GuardrailCheck


Stage = GenerationStage | RetrievalStage | GuardrailStage
