"""Turn the spans of one trace into interactions: one per *answer*, with what fed and judged it.

The rule (also in ``docs/assembly.md``), however many layers traced the answer:

1. **Layers of one call are one stage.** A generation span inside another generation span (a
   framework's LLM span over the client's span, the provider SDK's own span under an
   instrumentation's) is the same call; so is one that lies within another's time and gives the same
   answer (callback-based framework tracers do not parent the client's span). Likewise a retrieval
   inside a retrieval (a framework retriever over the vector-store query), or within its time with
   the same documents: its documents count once, with the fields each layer recorded merged.
2. **Only answers are interactions.** Moderation, embedding and rerank calls are never generations
   (the dialect readers make them guardrails, nothing, or a reordering of the retrieval before);
   a generation that only asks for tool calls is an agent's step, not an answer.
3. **What fed an answer**: the retrievals whose document text appears in its prompt; when the prompt
   or the documents were not captured, the retrievals between the previous answer and this one.
   Input guardrails sit before the generation, output guardrails after it; an unmarked one is placed
   by the text it checked (the question or the answer), else by where it sits.
4. **The prompt is the context** when no retrieval captured document text (see ``prompt_context``).

Every step is bounded: pairwise checks run only below :data:`MAX_PAIRWISE` stages per trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from mre import semconv as sc
from mre.metadata import PROMPT_SOURCE, normalize_metadata
from mre.model import Document, GuardrailCheck, Interaction, Message, Retrieval
from mre.processor import limits
from mre.processor.dialects import GenerationStage, GuardrailStage, RetrievalStage, read_span
from mre.processor.health import BAD_INPUT, UNREADABLE_SPAN
from mre.processor.limits import cut
from mre.processor.prompt_context import parse_prompt
from mre.processor.spans import SpanRecord, hex_trace_id

logger = logging.getLogger(__name__)

# Who asked: our attribute, the semconv user attribute (and its old name), and the user id the
# other instrumentations propagate.
PRINCIPAL_KEYS = (sc.MRE_PRINCIPAL, "user.id", "enduser.id", "traceloop.association.properties.user_id")
_WHO_AND_WHERE = frozenset((*PRINCIPAL_KEYS, sc.MRE_ROUTE, sc.HTTP_ROUTE))  # every key principal and route read
MAX_PAIRWISE = 400  # stages of one kind in a trace above which only the span tree merges layers
MAX_DEPTH = 64  # ancestors followed per span
_FINGERPRINT = 160  # characters of a document looked for in a prompt


@dataclass(frozen=True)
class ReadOptions:
    """How documents are read: ``metadata_keys`` maps the names scoring reads to the index's own."""

    metadata_keys: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Node:
    span: SpanRecord
    stage: GenerationStage | RetrievalStage | GuardrailStage
    _keys: tuple[str, str] | None = None

    def keys(self) -> tuple[str, str]:
        """A generation's normalized answer and last user message (computed once)."""
        if self._keys is None:
            stage = self.stage
            assert isinstance(stage, GenerationStage)
            self._keys = (_norm(stage.answer), _norm(_last_user(stage.input_messages)))
        return self._keys


T = TypeVar("T")


class _Tree:
    def __init__(self, spans: Sequence[SpanRecord]) -> None:
        self.parent = {s.span_id: s.parent_span_id for s in spans}

    def ancestors(self, span_id: int) -> list[int]:
        out: list[int] = []
        current = self.parent.get(span_id)
        while current is not None and len(out) < MAX_DEPTH:
            out.append(current)
            current = self.parent.get(current)
        return out


class _Groups:
    """Union-find over node indices."""

    def __init__(self, n: int) -> None:
        self.root = list(range(n))

    def find(self, i: int) -> int:
        while self.root[i] != i:
            self.root[i] = self.root[self.root[i]]
            i = self.root[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.root[max(ra, rb)] = min(ra, rb)

    def members(self) -> list[list[int]]:
        groups: dict[int, list[int]] = {}
        for i in range(len(self.root)):
            groups.setdefault(self.find(i), []).append(i)
        return list(groups.values())


def _group_layers(nodes: Sequence[_Node], tree: _Tree, same_call: Callable[[_Node, _Node], bool]) -> list[list[_Node]]:
    """Nodes that are layers of one call: nested in the span tree, or (below MAX_PAIRWISE) within
    another's time and ``same_call`` with it; a layer joins the tightest such outer layer only, so
    concurrent calls (a batch) stay apart."""
    if len(nodes) == 1:  # one layer (most traces): nothing to group
        return [list(nodes)]
    groups = _Groups(len(nodes))
    index = {n.span.span_id: i for i, n in enumerate(nodes)}
    for i, node in enumerate(nodes):
        for ancestor in tree.ancestors(node.span.span_id):
            j = index.get(ancestor)
            if j is not None:
                groups.union(i, j)
                break
    if len(nodes) <= MAX_PAIRWISE:
        order = sorted(range(len(nodes)), key=lambda i: (nodes[i].span.start_ns, -nodes[i].span.end_ns))
        for pos, j in enumerate(order):
            inner = nodes[j].span
            best: int | None = None
            for i in order[:pos]:
                outer = nodes[i].span
                if outer.end_ns < inner.end_ns or not same_call(nodes[i], nodes[j]):
                    continue
                if best is None or outer.end_ns - outer.start_ns < nodes[best].span.end_ns - nodes[best].span.start_ns:
                    best = i
            if best is not None:
                groups.union(best, j)
    return [[nodes[i] for i in sorted(m, key=lambda i: nodes[i].span.start_ns)] for m in groups.members()]


# --- generations ------------------------------------------------------------------------------
def _norm(text: str | None) -> str:
    return " ".join(text.split()).lower() if text else ""


def _same_generation(a: _Node, b: _Node) -> bool:
    """Two overlapping generation layers are one call when they gave the same answer, when either
    saw no content at all (the provider SDK's own span), or when they were asked the same thing."""
    ka, kb = a.keys(), b.keys()
    if ka[0] and kb[0]:
        return ka[0] == kb[0]
    if not (ka[0] or ka[1]) or not (kb[0] or kb[1]):
        return True
    return ka[1] == kb[1] != ""


def _last_user(messages: Sequence[Message] | None) -> str | None:
    for message in reversed(messages or ()):
        if message.role in ("user", "human"):
            return message.content
    return None


def _first(values: Sequence[T | None]) -> T | None:
    for value in values:
        if value is not None:
            return value
    return None


def _merge_generation(layers: list[_Node]) -> GenerationStage:
    """The layer that saw the answer (the innermost of those: the client) speaks first; every field
    it lacks comes from the other layers."""
    stages = [n.stage for n in layers]
    if len(stages) == 1:  # one layer (most answers): it is the merge, field for field
        only = stages[0]
        assert isinstance(only, GenerationStage)
        if isinstance(only.tool_calls, bool):  # the merge makes it one (any over the layers)
            return only
    ranked = sorted(
        range(len(layers)),
        key=lambda i: (
            not stages[i].answer,  # type: ignore[union-attr]
            stages[i].input_messages is None,  # type: ignore[union-attr]
            layers[i].span.end_ns - layers[i].span.start_ns,
        ),
    )
    ordered: list[GenerationStage] = [stages[i] for i in ranked]  # type: ignore[misc]
    primary = ordered[0]
    return replace(
        primary,
        provider=_first([g.provider for g in ordered]),
        model=_first([g.model for g in ordered]),
        response_id=_first([g.response_id for g in ordered]),
        system_prompt=_first([g.system_prompt for g in ordered]),
        input_messages=_first([g.input_messages for g in ordered]),
        answer=_first([g.answer for g in ordered if g.answer]) or primary.answer,
        input_tokens=_first([g.input_tokens for g in ordered]),
        output_tokens=_first([g.output_tokens for g in ordered]),
        tool_calls=any(g.tool_calls for g in ordered),
        start_ns=min(g.start_ns for g in ordered),
        end_ns=max(g.end_ns for g in ordered),
    )


# --- retrievals -------------------------------------------------------------------------------
def _doc_keys(retrieval: Retrieval) -> set[str]:
    keys = set()
    for doc in retrieval.documents or ():
        keys.add(f"id:{doc.id}")
        if doc.content:
            keys.add(f"text:{_norm(doc.content[:_FINGERPRINT])}")
    return keys


def _same_retrieval(a: _Node, b: _Node) -> bool:
    ra, rb = a.stage, b.stage
    assert isinstance(ra, RetrievalStage) and isinstance(rb, RetrievalStage)
    if ra.rerank or rb.rerank:
        return False
    if ra.retrieval.documents is None or rb.retrieval.documents is None:
        return True  # one layer did not capture documents: the other one's are the call's
    ka, kb = _doc_keys(ra.retrieval), _doc_keys(rb.retrieval)
    return bool(ka and kb) and len(ka & kb) * 2 >= min(len(ka), len(kb))


def _merge_documents(outer: Sequence[Document], others: Sequence[Sequence[Document]]) -> list[Document]:
    by_id: dict[str, Document] = {}
    by_text: dict[str, Document] = {}
    for docs in others:
        for doc in docs:
            by_id.setdefault(doc.id, doc)
            if doc.content:
                by_text.setdefault(_norm(doc.content[:_FINGERPRINT]), doc)
    merged = []
    seen: dict[str, int] = {}
    for doc in outer:
        seen[doc.id] = seen.get(doc.id, 0) + 1
    for doc in outer:
        by_text_twin = by_text.get(_norm(doc.content[:_FINGERPRINT])) if doc.content else None
        twin = by_text_twin or by_id.get(doc.id)
        if twin is None:
            merged.append(doc)
            continue
        # A framework often names documents after their source (every chunk alike) or their rank;
        # the vector store's own id is the better name then.
        derived = seen[doc.id] > 1 or doc.id.isdigit() or "#" in doc.id
        merged.append(
            Document(
                id=twin.id if derived and not twin.id.isdigit() else doc.id,
                content=doc.content or twin.content,
                score=doc.score if doc.score is not None else twin.score,
                distance=doc.distance if doc.distance is not None else twin.distance,
                rank=doc.rank if doc.rank is not None else twin.rank,
                metadata={**twin.metadata, **doc.metadata},
            )
        )
    return merged


def _merge_retrieval(layers: list[_Node]) -> Retrieval:
    """The outermost layer's documents (what the app got), completed from the inner layers'."""
    retrievals = [n.stage.retrieval for n in layers]  # type: ignore[union-attr]
    with_docs = [r for r in retrievals if r.documents is not None]
    if not with_docs:
        base = retrievals[0]
    else:
        with_text = [r for r in with_docs if any(d.content for d in r.documents or ())]
        base = (with_text or with_docs)[0]
    documents = base.documents
    if documents is not None and len(with_docs) > 1:
        documents = _merge_documents(documents, [r.documents or () for r in with_docs if r is not base])
    return Retrieval(
        span_id=retrievals[0].span_id,
        query=_first([r.query for r in retrievals]),
        documents=tuple(documents) if documents is not None else None,
        data_source=_first([r.data_source for r in retrievals]),
        top_k=_first([r.top_k for r in retrievals]),
        start_ns=min(r.start_ns for r in retrievals),
        end_ns=max(r.end_ns for r in retrievals),
    )


def _apply_reranks(retrievals: list[Retrieval], reranks: list[Retrieval]) -> list[Retrieval]:
    """A reranker's output replaces the documents of the retrieval it reordered (the latest one that
    ended before it and shares its documents); one that reordered nothing known is a retrieval."""
    out = list(retrievals)
    for rerank in sorted(reranks, key=lambda r: r.start_ns):
        keys = _doc_keys(rerank)
        target = None
        for i in range(len(out) - 1, -1, -1):
            if out[i].end_ns <= rerank.start_ns and (not keys or keys & _doc_keys(out[i])):
                target = i
                break
        if target is None:
            out.append(rerank)
        else:
            out[target] = replace(
                out[target], documents=rerank.documents, end_ns=max(out[target].end_ns, rerank.end_ns)
            )
    return out


# --- assembly ---------------------------------------------------------------------------------
def _prompt_text(gen: GenerationStage) -> str:
    parts = [gen.system_prompt or ""]
    parts.extend(m.content for m in gen.input_messages or ())
    return _norm("\n".join(parts))


def _share_in_prompt(prompt: str, retrieval: Retrieval) -> float | None:
    """The share of the retrieval's documents whose text is in the prompt; None when either side's
    text was not captured (nothing to check)."""
    docs = [d for d in retrieval.documents or () if d.content]
    if not prompt or not docs:
        return None
    return sum(1 for d in docs if _in_prompt(d.content or "", prompt)) / len(docs)


def _in_prompt(content: str, prompt: str) -> bool:
    """Whether the document's normalized fingerprint is in the (normalized) prompt. The fingerprint
    opens with its first word lower-cased (lower() maps a word alike alone or followed by a space), so
    a prompt without that word cannot hold it: most documents are told apart without normalizing."""
    head = content[:_FINGERPRINT]
    first = head.split(None, 1)
    if first and first[0].lower() not in prompt:
        return False
    return _norm(head) in prompt


def _assign_by_content(retrievals: Sequence[Retrieval], generations: Sequence[GenerationStage]) -> dict[int, int]:
    """retrieval index -> generation index, for retrievals whose text is in a later prompt: the prompt
    holding most of it, the earliest of equals (concurrent answers of a batch share some documents)."""
    if len(retrievals) * len(generations) > MAX_PAIRWISE * MAX_PAIRWISE // 4:
        return {}
    prompts = [_prompt_text(g) for g in generations]
    assigned: dict[int, int] = {}
    for r_index, retrieval in enumerate(retrievals):
        best: tuple[float, int] | None = None
        for g_index, gen in enumerate(generations):
            if retrieval.end_ns > gen.start_ns:
                continue
            share = _share_in_prompt(prompts[g_index], retrieval)
            if share is not None and share >= 0.5 and (best is None or share > best[0]):
                best = (share, g_index)
        if best is not None:
            assigned[r_index] = best[1]
    return assigned


def _normalized(retrieval: Retrieval, keys: Mapping[str, str]) -> Retrieval:
    if retrieval.documents is None:
        return retrieval
    changed: list[Document] | None = None  # copied at the first document whose metadata maps (rare)
    for i, doc in enumerate(retrieval.documents):
        if not doc.metadata:
            continue  # no names to map, configured or usual
        normalized = _normalized_doc(doc, keys)
        if normalized is not doc:
            changed = list(retrieval.documents) if changed is None else changed
            changed[i] = normalized
    return retrieval if changed is None else replace(retrieval, documents=tuple(changed))


def _bounded(fed: list[Retrieval]) -> list[Retrieval]:
    """At most MAX_DOCUMENTS documents, each cut to MAX_DOCUMENT_CHARS (processor/limits.py)."""
    out = []
    budget = limits.MAX_DOCUMENTS
    for retrieval in fed:
        docs = retrieval.documents
        if docs is None:
            out.append(retrieval)
            continue
        kept = docs[:budget]
        if len(kept) < len(docs):
            limits.CUTS.record(limits.DOCUMENTS, len(docs) - len(kept))
        budget -= len(kept)
        long = [d for d in kept if d.content is not None and len(d.content) > limits.MAX_DOCUMENT_CHARS]
        if long:
            cut_ids = {id(d) for d in long}
            kept = tuple(
                replace(d, content=cut(d.content, limits.MAX_DOCUMENT_CHARS, limits.DOCUMENT))
                if id(d) in cut_ids
                else d
                for d in kept
            )
        out.append(retrieval if kept is docs else replace(retrieval, documents=tuple(kept)))
    return out


def _normalized_doc(doc: Document, keys: Mapping[str, str]) -> Document:
    metadata = normalize_metadata(doc.metadata, keys)
    return doc if metadata is doc.metadata else replace(doc, metadata=metadata)


def _has_text(retrievals: Sequence[Retrieval]) -> bool:
    return any(d.content for r in retrievals for d in r.documents or ())


def _with_prompt_context(fed: list[Retrieval], gen: GenerationStage, passages: Sequence[Document]) -> list[Retrieval]:
    """Documents whose text was not captured take it from the prompt passage with the same id; with
    no document text at all, the prompt's passages are the context."""
    if not passages or _has_text(fed):
        return fed
    by_id = {d.id: d for d in passages}
    filled = []
    found = False
    for retrieval in fed:
        docs = []
        for doc in retrieval.documents or ():
            passage = by_id.get(doc.id)
            if passage is not None and not doc.content:
                found = True
                doc = replace(doc, content=passage.content, metadata={**passage.metadata, **doc.metadata})
            docs.append(doc)
        filled.append(replace(retrieval, documents=tuple(docs)) if retrieval.documents is not None else retrieval)
    if found:
        return filled
    prompt = Retrieval(span_id=gen.span_id, documents=tuple(passages), data_source=PROMPT_SOURCE)
    return [*fed, prompt]


def _place_guardrails(
    guardrails: Sequence[tuple[GuardrailCheck, str | None]],
    gen: GenerationStage,
    window_start: int,
    window_end: int | None,
    question: str | None,
) -> list[GuardrailCheck]:
    judged = []
    # The answer and the question are compared only for a check that did not say what it checked.
    unmarked = any(check.target is None and text for check, text in guardrails)
    answer = _norm(gen.answer) if unmarked else ""
    asked = (_norm(question) or _norm(_last_user(gen.input_messages))) if unmarked else ""
    for check, text in guardrails:
        target = check.target
        checked = _norm(text) if target is None else ""
        if target is None and checked:
            if answer and (checked == answer or (len(checked) > 20 and checked in answer)):
                target = "output"
            elif asked and (checked == asked or checked in asked or asked in checked):
                target = "input"
        before = window_start <= check.start_ns and check.end_ns <= gen.start_ns
        after = check.start_ns >= gen.end_ns and (window_end is None or check.start_ns < window_end)
        if target is None:
            target = "input" if before else "output" if after else None
        if (target == "input" and before) or (target == "output" and after):
            judged.append(replace(check, target=target) if check.target != target else check)
    return judged


def _read(spans: Sequence[SpanRecord]) -> list[_Node]:
    nodes: list[_Node] = []
    for span in spans:
        try:
            stages = read_span(span)
        except Exception as exc:  # a reader bug must not cost the rest of the trace (counted, logged rarely)
            BAD_INPUT.record(UNREADABLE_SPAN, f"span {span.name!r} could not be read ({type(exc).__name__}: {exc})")
            logger.debug("could not read span %x of trace %x", span.span_id, span.trace_id, exc_info=True)
            continue
        nodes.extend(_Node(span, stage) for stage in stages)
    return nodes


def build_interactions(spans: Sequence[SpanRecord], options: ReadOptions | None = None) -> list[Interaction]:
    options = options or ReadOptions()
    nodes = _read(spans)
    gen_nodes = [n for n in nodes if isinstance(n.stage, GenerationStage)]
    if not gen_nodes:
        return []
    tree = _Tree(spans)
    generations = [_merge_generation(layers) for layers in _group_layers(gen_nodes, tree, _same_generation)]
    # An agent's tool-call step is not an answer (its results reach the next generation's prompt).
    generations = [g for g in generations if g.answer or not g.tool_calls]
    if not generations:
        return []
    retrieval_nodes = [n for n in nodes if isinstance(n.stage, RetrievalStage) and not n.stage.rerank]
    retrievals = [_merge_retrieval(layers) for layers in _group_layers(retrieval_nodes, tree, _same_retrieval)]
    reranks = [n.stage.retrieval for n in nodes if isinstance(n.stage, RetrievalStage) and n.stage.rerank]
    retrievals = _apply_reranks(retrievals, reranks)
    retrievals = sorted((_normalized(r, options.metadata_keys) for r in retrievals), key=lambda r: r.start_ns)
    guardrails = sorted(
        ((n.stage.check, n.stage.checked_text) for n in nodes if isinstance(n.stage, GuardrailStage)),
        key=lambda g: g[0].start_ns,
    )
    generations.sort(key=lambda g: g.start_ns)

    trace_id = hex_trace_id(spans[0].trace_id)
    service = _first_resource(spans, sc.SERVICE_NAME)
    if all(_WHO_AND_WHERE.isdisjoint(span.attributes.keys()) for span in spans):  # the usual case: one pass, in C
        principal = route = None
    else:
        principal = _first_attr(spans, PRINCIPAL_KEYS)
        route = _route(spans)
    # Retrievals whose text is in a prompt feed that answer and no other. One retrieval and one
    # answer (the usual trace) need no comparison: claimed or not, it feeds the answer exactly when it
    # ended before the answer began, which is the time window's rule below.
    one_each = len(retrievals) == 1 and len(generations) == 1
    claimed = {} if one_each else _assign_by_content(retrievals, generations)

    out = []
    for i, gen in enumerate(generations):
        window_start = generations[i - 1].end_ns if i > 0 else 0
        window_end = generations[i + 1].start_ns if i + 1 < len(generations) else None
        fed = [r for r_index, r in enumerate(retrievals) if claimed.get(r_index) == i]
        if not fed:
            # Not found in the prompt (or nothing to compare): the retrievals between the previous
            # answer and this one that no other prompt holds.
            fed = [
                r
                for r_index, r in enumerate(retrievals)
                if r_index not in claimed and window_start <= r.start_ns and r.end_ns <= gen.start_ns
            ]
        question = _first([r.query for r in reversed(fed)])
        complete = _has_text(fed) and all(d.content for r in fed for d in r.documents or ())
        if question is None or not complete:  # the prompt is read only for what the spans lack
            parts = parse_prompt(gen.input_messages, gen.system_prompt)
            fed = _with_prompt_context(fed, gen, [_normalized_doc(d, options.metadata_keys) for d in parts.documents])
            question = _first([r.query for r in reversed(fed)]) or parts.question
        fed = _bounded(fed)
        out.append(
            Interaction(
                trace_id=trace_id,
                span_id=gen.span_id,
                dialect=gen.dialect,
                service=service,
                provider=gen.provider,
                model=gen.model,
                response_id=gen.response_id,
                question=cut(question, limits.MAX_QUESTION_CHARS, limits.QUESTION),
                system_prompt=gen.system_prompt,
                input_messages=gen.input_messages,
                answer=cut(gen.answer, limits.MAX_ANSWER_CHARS, limits.ANSWER),
                retrievals=tuple(fed),
                guardrails=tuple(_place_guardrails(guardrails, gen, window_start, window_end, question)),
                principal=principal,
                route=route,
                input_tokens=gen.input_tokens,
                output_tokens=gen.output_tokens,
                start_ns=gen.start_ns,
                end_ns=gen.end_ns,
            )
        )
    return out


def _first_attr(spans: Sequence[SpanRecord], keys: Sequence[str]) -> str | None:
    wanted = set(keys)
    if all(wanted.isdisjoint(span.attributes.keys()) for span in spans):  # the usual case, in C per span
        return None
    for key in keys:
        for span in spans:
            value = span.attributes.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def _route(spans: Sequence[SpanRecord]) -> str | None:
    value = _first_attr(spans, (sc.MRE_ROUTE,))
    if value is not None:
        return value
    return _first_attr([s for s in spans if s.is_local_root], (sc.HTTP_ROUTE,))


def _first_resource(spans: Sequence[SpanRecord], key: str) -> str | None:
    for span in spans:
        value = span.resource.get(key)
        if isinstance(value, str) and value:
            return value
    return None
