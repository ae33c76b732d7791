"""The question and the context inside a prompt, for the templates people use.

When no retrieval span captured document text (the official GenAI instrumentation records ids and
scores only; some apps retrieve with code nobody traced), the context the model was given is in the
prompt itself. Templates differ (the table-driven tests hold one row per real template):

- markers: ``Question:`` / ``Query:`` / ``Q:`` before or after the context (LangChain hub's
  ``rlm/rag-prompt`` asks first), ``Context:`` / ``Context information is below.`` / any short header
  naming documents, sources, passages or excerpts; ``Answer:`` ends the prompt;
- delimited blocks between rule lines (``-----``, LlamaIndex's ``text_qa_template``), XML-style
  tags (``<context>``, ``<documents>``, ``<document>``...);
- the context in the system message, after its instructions (LangChain's ``create_retrieval_chain``);
- tool results after the question (retrieval as a function call);
- multi-turn history: the last user turn is the question, earlier turns are not context.

Context text is split into passages: ``[id] text`` lines, blank-line paragraphs, XML documents, and
LlamaIndex's ``key: value`` metadata lines above a passage (kept as the passage's metadata, so
freshness and permission checks work from the prompt alone).

Every routine is one pass over lines with anchored, bounded patterns (linear in the input), and the
text read is cut at :data:`MAX_PROMPT_CHARS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mre.metadata import PROMPT_SOURCE
from mre.model import Document, Message
from mre.processor import limits

MAX_PROMPT_CHARS = 256 * 1024  # per message; longer ones are read up to here
MIN_CONTEXT_CHARS = 20

_USER_ROLES = frozenset({"user", "human"})
_SYSTEM_ROLES = frozenset({"system", "developer"})
_TOOL_ROLES = frozenset({"tool", "function", "ipython"})

# One line, anchored at its start, every quantifier bounded: no pattern here can backtrack over
# more than a line's first ~80 characters.
_QUESTION = re.compile(
    r"^[ \t#*>]{0,8}(?:(?:please\s{1,4})?(?:answer|respond\s{1,4}to|address)\s{1,4})?(?:the\s{1,4})?"
    r"(?:following\s{1,4})?(?:user'?s?\s{1,4}|original\s{1,4}|standalone\s{1,4}|follow[- ]up\s{1,4})?"
    r"(?:question|query|q)\s{0,4}(?:\([^)\n]{0,30}\))?\s{0,4}(?::|-\s|is\s{1,4}as\s{1,4}follows\s{0,4}:)\s*",
    re.I,
)
_CONTEXT_NOUN = (
    r"(?:context(?:\s{1,4}information)?|contexts|documents?|docs|sources?|passages?|excerpts?|snippets?|"
    r"search\s{1,4}results|results|knowledge(?:\s{1,4}base)?|references?|facts|information|chunks?)"
)
# "Context:", "Context information is below.", "Handbook excerpts:", "Here are the relevant documents:"
_CONTEXT_HEADER = re.compile(
    r"^[ \t#*>]{0,8}(?:[\w'-]{1,30}\s{1,4}){0,5}?" + _CONTEXT_NOUN + r"\b[^\n:.]{0,60}?"
    r"(?::|\s(?:is|are)\s{1,4}(?:below|as\s{1,4}follows)\s{0,4}[.:]?)\s*",
    re.I,
)
_ANSWER = re.compile(r"^[ \t#*>]{0,8}(?:helpful\s{1,4}|final\s{1,4}|your\s{1,4})?(?:answer|response)\s{0,4}:\s*", re.I)
_RULE = re.compile(r"^\s{0,8}([-=_*#~`])\1{2,}\s*$")
_ID_LINE = re.compile(r"^\s{0,4}\[([^\]\n]{1,120})\]\s*(.*)$")
_META_LINE = re.compile(r"^\s{0,4}([A-Za-z_][\w .-]{0,40}?)\s{0,4}:\s{0,4}(\S[^\n]{0,500})$")
_CONTEXT_TAGS = frozenset(
    {"context", "contexts", "documents", "document", "docs", "sources", "source_documents", "search_results",
     "retrieved_context", "knowledge", "passages", "references", "information"}
)  # fmt: skip
_DOC_TAGS = frozenset({"document", "doc", "passage", "source_document", "search_result", "result"})
_TAG = re.compile(r"<(/?)([A-Za-z_][\w-]{0,40})(?:\s[^<>\n]{0,200})?>")
_ATTR = re.compile(r"""\b(id|index|source|title)\s{0,2}=\s{0,2}["']([^"'<>\n]{1,200})["']""")
_INSTRUCTION = re.compile(
    r"^\s{0,8}(?:\d{1,2}[.)]\s{1,4})?(?:you\b|your\b|please\b|answer\b|use\b|do\s{1,4}not\b|don't\b|never\b|"
    r"always\b|only\b|if\s{1,4}you\b|if\s{1,4}the\b|respond\b|reply\b|be\b|keep\b|cite\b|say\b|provide\b|"
    r"follow\b|avoid\b|make\s{1,4}sure\b|write\b|ignore\b|remember\b|act\s{1,4}as\b|given\b|based\s{1,4}on\b|"
    r"according\s{1,4}to\s{1,4}the\b|some\s{1,4}rules\b|rules\b|instructions?\b|think\b|assistant\b)",
    re.I,
)
_REFERS_TO_CONTEXT = re.compile(r"\b(?:context|documents?|excerpts?|passages?|sources?|below|following)\b", re.I)
_KNOWN_META = frozenset(
    {"source", "title", "version", "updated_at", "last_modified", "last_modified_date", "status", "acl", "id",
     "doc_id", "document_id", "file_path", "file_name", "superseded_by", "page", "page_label", "url", "family",
     "creation_date", "author", "category", "section"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PromptParts:
    """What a prompt says: the question asked and the passages given to answer it (empty: none)."""

    question: str | None
    documents: tuple[Document, ...] = ()


@dataclass
class _Sections:
    question: list[str] = field(default_factory=list)  # the last question section's lines
    context: list[list[str]] = field(default_factory=list)  # each context section's lines
    text: list[str] = field(default_factory=list)  # lines outside any section (instructions, a bare question)
    marked_question: bool = False


def _cut(text: str) -> str:
    if len(text) <= MAX_PROMPT_CHARS:
        return text
    limits.CUTS.record(limits.PROMPT)
    return text[:MAX_PROMPT_CHARS]


def _sections(text: str) -> _Sections:
    """One pass over the lines of a message."""
    out = _Sections()
    current: list[str] | None = None  # where lines go now (None: the instructions/text part)
    kind = "text"
    delimited = False  # inside a block between rule lines
    closing_tag: str | None = None  # inside <context>...</context>
    for line in _cut(text).splitlines():
        stripped = line.strip()
        if closing_tag is not None and current is not None:
            end = line.find(closing_tag)
            if end < 0:
                current.append(line)
                continue
            current.append(line[:end])
            closing_tag, current, kind = None, None, "text"
            continue
        if stripped.startswith("<"):
            tag = _TAG.match(stripped)
            if tag and not tag.group(1) and tag.group(2).lower() in _CONTEXT_TAGS:
                name, rest = tag.group(2), stripped[tag.end() :]
                current, kind = [], "context"
                out.context.append(current)
                end = rest.find(f"</{name}>")
                if end >= 0:
                    current.append(rest[:end])
                    current, kind = None, "text"
                else:
                    current.append(rest)
                    closing_tag = f"</{name}>"
                continue
        if _RULE.match(line):
            if delimited:
                delimited, current, kind = False, None, "text"
            else:
                delimited, current, kind = True, [], "context"
                out.context.append(current)
            continue
        if not delimited:
            marker = _QUESTION.match(line)
            # Inside a context, "Q:" is more likely an FAQ passage than the question.
            if marker and not (kind == "context" and len(stripped[: marker.end()].split(":")[0].strip(" #*>")) <= 1):
                current, kind = [line[marker.end() :]], "question"
                out.question, out.marked_question = current, True
                if line.rstrip().endswith("?"):
                    current, kind = None, "text"
                continue
            header = _CONTEXT_HEADER.match(line) if len(stripped) < 400 else None
            if header and len(line[: header.end()].split()) <= 8:
                current, kind = [line[header.end() :]], "context"
                out.context.append(current)
                continue
            if _ANSWER.match(line):
                current, kind = [], "answer"  # what follows "Answer:" is where the model writes
                continue
        if current is None:
            current, kind = out.text, "text"
        if kind == "question" and not stripped:
            current, kind = out.text, "text"  # a question ends with its paragraph
            continue
        current.append(line)
        if kind == "question" and line.rstrip().endswith("?"):
            current, kind = out.text, "text"
    return out


def _paragraphs(lines: Iterable[str]) -> list[list[str]]:
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _instruction_like(paragraph: Sequence[str]) -> bool:
    return bool(paragraph) and sum(1 for line in paragraph if _INSTRUCTION.match(line)) * 2 >= len(paragraph)


def _join(lines: Iterable[str]) -> str:
    return " ".join(line.strip() for line in lines if line.strip()).strip()


def _metadata_block(paragraph: Sequence[str]) -> dict[str, Any] | None:
    """A paragraph made only of known ``key: value`` lines is the metadata of the next passage."""
    if len(paragraph) > 16:
        return None
    meta: dict[str, Any] = {}
    for line in paragraph:
        match = _META_LINE.match(line)
        if match is None:
            return None
        key = match.group(1).strip().lower().replace(" ", "_")
        if key not in _KNOWN_META:
            return None
        value: Any = match.group(2).strip()
        meta[key] = int(value) if value.isdigit() and len(value) < 10 else value
    return meta or None


def _xml_documents(lines: Sequence[str]) -> list[tuple[str | None, str, dict[str, Any]]] | None:
    """``<document index="1"><source>x</source><document_content>...</document_content></document>``."""
    text = "\n".join(lines)
    out: list[tuple[str | None, str, dict[str, Any]]] = []
    pos = 0
    while True:
        start = _find_doc_tag(text, pos)
        if start is None:
            break
        _, tag_end, name, attrs = start
        close = text.find(f"</{name}>", tag_end)
        body = text[tag_end : close if close >= 0 else len(text)]
        pos = close + len(name) + 3 if close >= 0 else len(text)
        meta: dict[str, Any] = {}
        for field_name in ("source", "title"):
            inner = _inner(body, field_name)
            if inner is not None:
                meta[field_name] = inner
        content = _inner(body, "document_content") or _inner(body, "content") or _strip_tags(body)
        doc_id = attrs.get("id") or attrs.get("source") or meta.get("source") or attrs.get("index")
        out.append((doc_id, content.strip(), meta))
    return out or None


def _find_doc_tag(text: str, pos: int) -> tuple[int, int, str, dict[str, str]] | None:
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            return None
        match = _TAG.match(text, lt)
        if match and not match.group(1) and match.group(2).lower() in _DOC_TAGS:
            attrs = {k.lower(): v for k, v in _ATTR.findall(match.group(0))}
            return lt, match.end(), match.group(2), attrs
        pos = lt + 1


def _inner(body: str, name: str) -> str | None:
    start = body.find(f"<{name}>")
    if start < 0:
        return None
    end = body.find(f"</{name}>", start)
    return body[start + len(name) + 2 : end if end >= 0 else len(body)].strip()


def _strip_tags(text: str) -> str:
    return _TAG.sub(" ", text)


def split_passages(lines: Sequence[str], first_index: int = 0) -> list[Document]:
    """Context text to passages (documents), ids and metadata where the text carries them."""
    xml = _xml_documents(lines) if any("<" in line for line in lines) else None
    if xml is not None:
        return [
            _document(doc_id, content, meta, first_index + i)
            for i, (doc_id, content, meta) in enumerate(xml)
            if content
        ]
    docs: list[Document] = []
    if any(_ID_LINE.match(line) for line in lines):
        current_id: str | None = None
        current: list[str] = []
        for line in lines:
            match = _ID_LINE.match(line)
            if match:
                if current_id is not None or _join(current):
                    docs.append(_document(current_id, _join(current), {}, first_index + len(docs)))
                current_id, current = match.group(1).strip(), [match.group(2)]
            else:
                current.append(line)
        if current_id is not None or _join(current):
            docs.append(_document(current_id, _join(current), {}, first_index + len(docs)))
        return [d for d in docs if d.content]
    pending: dict[str, Any] | None = None
    for paragraph in _paragraphs(lines):
        meta = _metadata_block(paragraph)
        if meta is not None:
            pending = meta
            continue
        docs.append(_document(None, _join(paragraph), pending or {}, first_index + len(docs)))
        pending = None
    return docs


def _document(doc_id: Any, content: str, meta: dict[str, Any], rank: int) -> Document:
    ident = doc_id or meta.get("id") or meta.get("doc_id") or meta.get("document_id") or meta.get("file_name")
    ident = ident or meta.get("source") or meta.get("file_path") or f"{PROMPT_SOURCE}-{rank}"
    metadata = {"source": PROMPT_SOURCE, **meta} if "source" not in meta else dict(meta)
    return Document(id=str(ident), content=content, rank=rank, metadata=metadata)


def _question_of(sections: _Sections) -> tuple[str | None, list[str] | None]:
    """The question of the last user message and, when it had no marker, the paragraph it was."""
    if sections.marked_question:
        question = _join(sections.question)
        if question:
            return question, None
    # No marker: the last paragraph outside the context that is not an instruction.
    candidates = [p for p in _paragraphs(sections.text) if not _instruction_like(p)]
    if candidates:
        return _join(candidates[-1]), candidates[-1]
    # Context with a header swallowed the rest: a final line asking something is the question.
    if sections.context:
        tail = _paragraphs(sections.context[-1])
        if len(tail) > 1 and tail[-1][-1].rstrip().endswith("?"):
            sections.context[-1] = [line for p in tail[:-1] for line in (*p, "")]
            return _join(tail[-1]), None
    paragraphs = _paragraphs(sections.text)
    return (_join(paragraphs[-1]), None) if paragraphs else (None, None)


def _after_instructions(paragraphs: list[list[str]]) -> list[list[str]]:
    """Unmarked context: the paragraphs after leading instructions that refer to it ("use the
    following pieces of retrieved context"); nothing when the instructions do not."""
    instructions = 0
    while instructions < len(paragraphs) and _instruction_like(paragraphs[instructions]):
        instructions += 1
    rest = paragraphs[instructions:]
    refers = any(_REFERS_TO_CONTEXT.search(" ".join(p)) for p in paragraphs[:instructions])
    if not instructions or not rest or not refers:
        return []
    return [[line for p in rest for line in (*p, "")]]


def _system_context(text: str) -> list[list[str]]:
    """Context in a system message: marked sections, else the paragraphs after its instructions."""
    sections = _sections(text)
    return sections.context or _after_instructions(_paragraphs(sections.text))


def parse_prompt(messages: Sequence[Message] | None, system_prompt: str | None = None) -> PromptParts:
    """The question of the last user turn and every passage the prompt carries."""
    if not messages:
        return PromptParts(None)
    last_user = max((i for i, m in enumerate(messages) if m.role in _USER_ROLES), default=None)
    if last_user is None:
        return PromptParts(None)
    sections = _sections(messages[last_user].content)
    question, bare = _question_of(sections)
    blocks: list[list[str]] = [block for block in sections.context if _join(block)]
    if not blocks:  # RetrievalQA's "stuff" prompt: instructions, the passages, then the question
        blocks = _after_instructions([p for p in _paragraphs(sections.text) if p != bare])
    # Retrieval as a tool call: the results come back after the question.
    blocks.extend(m.content.splitlines() for m in messages[last_user + 1 :] if m.role in _TOOL_ROLES and m.content)
    if not blocks:
        system_texts = [m.content for m in messages if m.role in _SYSTEM_ROLES and m.content]
        if not system_texts and system_prompt:
            system_texts = [system_prompt]
        for text in system_texts:
            blocks.extend(_system_context(text))
    documents: list[Document] = []
    for block in blocks:
        documents.extend(split_passages(block, len(documents)))
    documents = [d for d in documents if d.content and len(d.content) >= MIN_CONTEXT_CHARS]
    return PromptParts(question or None, tuple(_unique_ids(documents)))


def _unique_ids(documents: list[Document]) -> list[Document]:
    """Passages named after their source file share it: the second is ``source#2``, and so on."""
    seen: dict[str, int] = {}
    out = []
    for doc in documents:
        count = seen.get(doc.id, 0) + 1
        seen[doc.id] = count
        out.append(
            doc
            if count == 1
            else Document(f"{doc.id}#{count}", doc.content, doc.score, doc.distance, doc.rank, doc.metadata)
        )
    return out
