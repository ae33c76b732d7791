"""Turn the spans of one trace into interactions: each generation with what fed and judged it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mre import semconv as sc
from mre.model import Document, GuardrailCheck, Interaction, Retrieval
from mre.processor.dialects import GenerationStage, GuardrailStage, RetrievalStage, read_span
from mre.processor.dialects._common import context_from_prompt, question_from_prompt
from mre.processor.spans import SpanRecord, hex_trace_id

logger = logging.getLogger(__name__)


def build_interactions(spans: Sequence[SpanRecord]) -> list[Interaction]:
    generations: list[GenerationStage] = []
    retrievals: list[Retrieval] = []
    guardrails: list[GuardrailCheck] = []
    for span in spans:
        try:
            stages = read_span(span)
        except Exception:  # a reader bug must not cost the rest of the trace
            logger.exception("could not read span %x of trace %x", span.span_id, span.trace_id)
            continue
        for stage in stages:
            if isinstance(stage, GenerationStage):
                generations.append(stage)
            elif isinstance(stage, RetrievalStage):
                retrievals.append(stage.retrieval)
            elif isinstance(stage, GuardrailStage):
                guardrails.append(stage.check)
    if not generations:
        return []
    generations.sort(key=lambda g: g.start_ns)
    retrievals.sort(key=lambda r: r.start_ns)
    guardrails.sort(key=lambda g: g.start_ns)
    trace_id = hex_trace_id(spans[0].trace_id)
    service = _first_resource(spans, sc.SERVICE_NAME)
    principal = _first_attr(spans, sc.MRE_PRINCIPAL)
    route = _first_attr(spans, sc.MRE_ROUTE)

    out = []
    for i, gen in enumerate(generations):
        window_start = generations[i - 1].end_ns if i > 0 else 0
        window_end = generations[i + 1].start_ns if i + 1 < len(generations) else None
        fed_by = [r for r in retrievals if window_start <= r.start_ns and r.end_ns <= gen.start_ns]
        judged_by = [
            g
            for g in guardrails
            if (g.target == "input" and window_start <= g.start_ns and g.end_ns <= gen.start_ns)
            or (g.target != "input" and g.start_ns >= gen.end_ns and (window_end is None or g.start_ns < window_end))
        ]
        if not _has_context(fed_by):
            prompt_context = _prompt_context(gen)
            if prompt_context is not None:
                fed_by.append(prompt_context)
        out.append(
            Interaction(
                trace_id=trace_id,
                span_id=gen.span_id,
                dialect=gen.dialect,
                service=service,
                provider=gen.provider,
                model=gen.model,
                response_id=gen.response_id,
                question=_question(fed_by, gen),
                system_prompt=gen.system_prompt,
                input_messages=gen.input_messages,
                answer=gen.answer,
                retrievals=tuple(fed_by),
                guardrails=tuple(judged_by),
                principal=principal,
                route=route,
                input_tokens=gen.input_tokens,
                output_tokens=gen.output_tokens,
                start_ns=gen.start_ns,
                end_ns=gen.end_ns,
            )
        )
    return out


PROMPT_CONTEXT = "prompt"


def _has_context(retrievals: Sequence[Retrieval]) -> bool:
    return any(d.content for r in retrievals for d in r.documents or ())


def _prompt_context(gen: GenerationStage) -> Retrieval | None:
    """When no retrieval captured document text (util-genai records ids and scores only; OpenLIT's
    vector-store spans record no results), the context the model was given is the prompt itself."""
    for message in reversed(gen.input_messages or ()):
        if message.role == "user" and message.content:
            context = context_from_prompt(message.content)
            if context is None:
                return None
            document = Document(id=PROMPT_CONTEXT, content=context, metadata={"source": PROMPT_CONTEXT})
            return Retrieval(span_id=gen.span_id, documents=(document,), data_source=PROMPT_CONTEXT)
    return None


def _question(retrievals: Sequence[Retrieval], gen: GenerationStage) -> str | None:
    """The user's question: the retrieval query when captured, else the last user message."""
    for retrieval in reversed(retrievals):
        if retrieval.query:
            return retrieval.query
    if gen.input_messages:
        for message in reversed(gen.input_messages):
            if message.role == "user" and message.content:
                return question_from_prompt(message.content)
    return None


def _first_attr(spans: Sequence[SpanRecord], key: str) -> str | None:
    for span in spans:
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _first_resource(spans: Sequence[SpanRecord], key: str) -> str | None:
    for span in spans:
        value = span.resource.get(key)
        if isinstance(value, str) and value:
            return value
    return None
