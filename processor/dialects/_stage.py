"""What a dialect reader extracts from one span, before a trace is assembled into an Interaction.

Plain slots dataclasses, not frozen: one or more per GenAI span, and a frozen dataclass sets each
field through object.__setattr__ (~0.1 us a field); nothing writes to a stage after a reader made it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mre.model import GuardrailCheck, Message, Retrieval


@dataclass(slots=True)
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
    # The output asked for tool calls: an agent's step, not an answer (unless it also has text).
    tool_calls: bool = False


@dataclass(slots=True)
class RetrievalStage:
    dialect: str
    retrieval: Retrieval
    rerank: bool = False  # reorders (and cuts) the documents of the retrieval before it


@dataclass(slots=True)
class GuardrailStage:
    dialect: str
    check: GuardrailCheck
    # The text the guardrail was given, when the span records it (moderation calls): it tells an
    # input check from an output check when the target is not recorded.
    checked_text: str | None = None


Stage = GenerationStage | RetrievalStage | GuardrailStage
