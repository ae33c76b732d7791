"""RAG applications written the way their libraries' own tutorials write them, with no mre code.

Each app answers the handbook questions against a local model server (``base_url``) and is traced
by whatever instrumentation the harness turned on. The only telemetry the apps create themselves is
what a web service has anyway: one request span per question carrying ``user.id``.

- ``langchain``: langchain-chroma retriever + ``ChatOpenAI`` through LCEL with LangChain hub's
  ``rlm/rag-prompt`` (question before context), ``invoke``/``stream``/``batch``/``ainvoke``/``astream``;
  OpenAI moderation on the question and on the answer.
- ``langchain_anthropic``: the same retriever, ``ChatAnthropic`` with the context in the system
  message (LangChain's ``create_retrieval_chain`` prompt), ``invoke``/``stream``.
- ``llamaindex``: ``VectorStoreIndex`` (in-memory store) and its default query engine with
  LlamaIndex's ``OpenAI`` LLM and ``OpenAIEmbedding``.
- ``openai``: chromadb queried with embeddings from the ``openai`` client, then
  ``chat.completions`` ``create`` / ``stream=True`` / ``with_raw_response``.
- ``anthropic``: chromadb, then ``messages.create`` / the ``messages.stream()`` helper, context in
  ``system``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from tests.realapps.handbook import CASES, DOCUMENTS, Case
from tests.realapps.model import MODEL

API_KEY = "sk-local-test"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
# LangChain hub "rlm/rag-prompt" (one human message, question before context).
RLM_RAG_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to "
    "answer the question. If you don't know the answer, just say that you don't know. Use three sentences "
    "maximum and keep the answer concise.\nQuestion: {question} \nContext: {context} \nAnswer:"
)
# LangChain's create_retrieval_chain tutorial: the context goes into the system message.
RETRIEVAL_CHAIN_SYSTEM = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to "
    "answer the question. If you don't know the answer, say that you don't know. Use three sentences "
    "maximum and keep the answer concise.\n\n{context}"
)
PLAIN_SYSTEM = "Answer the employee's question using only the handbook excerpts below. Say so if they do not answer it."

LANGCHAIN_MODES = ("invoke", "stream", "batch", "ainvoke", "astream")
OPENAI_MODES = ("create", "stream", "raw", "raw_stream", "streaming_response", "parse", "async", "responses")
ANTHROPIC_MODES = ("create", "stream", "stream_helper", "raw", "async")


def _tracer(provider: TracerProvider | None) -> trace.Tracer:
    return trace.get_tracer("handbook-service", tracer_provider=provider)


def _request(tracer: trace.Tracer, case: Case) -> Any:
    return tracer.start_as_current_span("POST /ask", kind=trace.SpanKind.SERVER, attributes={"user.id": case.user})


# --- LangChain ------------------------------------------------------------------------------------
def _chroma_store(base_url: str, collection: str) -> Any:
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_openai import OpenAIEmbeddings

    # check_embedding_ctx_length=False: no tiktoken download (the machine has no internet).
    embeddings = OpenAIEmbeddings(
        model="text-embedding-3-small", base_url=base_url, api_key=API_KEY, check_embedding_ctx_length=False
    )
    store = Chroma(collection_name=collection, embedding_function=embeddings, client=chromadb.EphemeralClient())
    store.add_documents(
        [Document(page_content=d.text, metadata=d.metadata(), id=d.id) for d in DOCUMENTS],
        ids=[d.id for d in DOCUMENTS],
    )
    return store


def format_docs(docs: Sequence[Any]) -> str:
    return "\n\n".join(doc.page_content for doc in docs)


def langchain(
    base_url: str, mode: str, cases: Sequence[Case] = CASES, provider: TracerProvider | None = None
) -> list[str]:
    import openai
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough
    from langchain_openai import ChatOpenAI

    tracer = _tracer(provider)
    retriever = _chroma_store(base_url, f"handbook-{mode}").as_retriever(search_kwargs={"k": 3})
    llm = ChatOpenAI(model=MODEL, base_url=base_url, api_key=API_KEY, temperature=0)
    prompt = ChatPromptTemplate.from_template(RLM_RAG_PROMPT)
    chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | llm | StrOutputParser()
    moderation = openai.OpenAI(base_url=base_url, api_key=API_KEY)

    def moderated(case: Case, answer_of: Callable[[str], str]) -> str:
        with _request(tracer, case):
            if moderation.moderations.create(input=case.question).results[0].flagged:
                return "I can't help with that."
            answer = answer_of(case.question)
            moderation.moderations.create(input=answer)
            return answer

    if mode == "invoke":
        return [moderated(c, chain.invoke) for c in cases]
    if mode == "stream":
        return [moderated(c, lambda q: "".join(chain.stream(q))) for c in cases]
    if mode == "batch":
        # A back-office job: one request span per batch of six questions, no moderation.
        answers: list[str] = []
        for start in range(0, len(cases), 6):
            chunk = list(cases[start : start + 6])
            with tracer.start_as_current_span("nightly-batch", attributes={"user.id": chunk[0].user}):
                answers.extend(chain.batch([c.question for c in chunk], config={"max_concurrency": 3}))
        return answers

    async def one(case: Case) -> str:
        with _request(tracer, case):
            if mode == "ainvoke":
                return str(await chain.ainvoke(case.question))
            return "".join([piece async for piece in chain.astream(case.question)])

    async def run() -> list[str]:
        return list(await asyncio.gather(*(one(c) for c in cases)))

    if mode in ("ainvoke", "astream"):
        return asyncio.run(run())
    raise ValueError(f"unknown mode {mode!r}; one of {LANGCHAIN_MODES}")


def langchain_anthropic(
    base_url: str, mode: str, cases: Sequence[Case] = CASES, provider: TracerProvider | None = None
) -> list[str]:
    from langchain_anthropic import ChatAnthropic
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough

    tracer = _tracer(provider)
    retriever = _chroma_store(base_url, f"handbook-anthropic-{mode}").as_retriever(search_kwargs={"k": 3})
    # ChatAnthropic appends /v1/messages to its base url.
    llm = ChatAnthropic(model=ANTHROPIC_MODEL, base_url=base_url.removesuffix("/v1"), api_key=API_KEY, max_tokens=300)
    prompt = ChatPromptTemplate.from_messages([("system", RETRIEVAL_CHAIN_SYSTEM), ("human", "{input}")])
    chain = {"context": retriever | format_docs, "input": RunnablePassthrough()} | prompt | llm | StrOutputParser()
    answers = []
    for case in cases:
        with _request(tracer, case):
            if mode == "invoke":
                answers.append(chain.invoke(case.question))
            elif mode == "stream":
                answers.append("".join(chain.stream(case.question)))
            else:
                raise ValueError(f"unknown mode {mode!r}; one of invoke, stream")
    return answers


# --- LlamaIndex -----------------------------------------------------------------------------------
def llamaindex(
    base_url: str, mode: str = "query", cases: Sequence[Case] = CASES, provider: TracerProvider | None = None
) -> list[str]:
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.embeddings.openai import OpenAIEmbedding
    from llama_index.llms.openai import OpenAI

    tracer = _tracer(provider)
    Settings.llm = OpenAI(model=MODEL, api_base=base_url, api_key=API_KEY, temperature=0)
    Settings.embed_model = OpenAIEmbedding(model="text-embedding-3-small", api_base=base_url, api_key=API_KEY)
    documents = [Document(text=d.text, metadata=d.metadata(), doc_id=d.id) for d in DOCUMENTS]
    index = VectorStoreIndex.from_documents(documents)
    engine = index.as_query_engine(similarity_top_k=3)
    answers = []
    for case in cases:
        with _request(tracer, case):
            if mode == "query":
                answers.append(str(engine.query(case.question)))
            elif mode == "aquery":
                answers.append(str(asyncio.run(engine.aquery(case.question))))
            else:
                raise ValueError(f"unknown mode {mode!r}; one of query, aquery")
    return answers


# --- the raw clients over chromadb ----------------------------------------------------------------
class _Handbook:
    """A chromadb collection filled with embeddings from the OpenAI client (as Chroma's docs show)."""

    def __init__(self, client: Any, name: str) -> None:
        import chromadb

        self.client = client
        self.collection = chromadb.EphemeralClient().get_or_create_collection(name, embedding_function=None)
        vectors = client.embeddings.create(model="text-embedding-3-small", input=[d.text for d in DOCUMENTS])
        self.collection.add(
            ids=[d.id for d in DOCUMENTS],
            documents=[d.text for d in DOCUMENTS],
            metadatas=[d.metadata() for d in DOCUMENTS],
            embeddings=[item.embedding for item in vectors.data],
        )

    def context(self, question: str) -> str:
        vector = self.client.embeddings.create(model="text-embedding-3-small", input=question).data[0].embedding
        found = self.collection.query(query_embeddings=[vector], n_results=3)
        return "\n".join(f"[{i}] {text}" for i, text in zip(found["ids"][0], found["documents"][0], strict=True))


def openai_app(
    base_url: str, mode: str, cases: Sequence[Case] = CASES, provider: TracerProvider | None = None
) -> list[str]:
    import openai

    tracer = _tracer(provider)
    client = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)
    handbook = _Handbook(client, f"handbook-openai-{mode}")

    def messages(case: Case) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": PLAIN_SYSTEM},
            {"role": "user", "content": f"Handbook excerpts:\n{handbook.context(case.question)}\n\n{case.question}"},
        ]

    def ask(case: Case) -> str:
        if mode == "create":
            return client.chat.completions.create(model=MODEL, messages=messages(case)).choices[0].message.content or ""
        if mode == "stream":
            stream = client.chat.completions.create(model=MODEL, messages=messages(case), stream=True)
            return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        if mode == "raw":
            raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages(case))
            return raw.parse().choices[0].message.content or ""
        if mode == "raw_stream":
            raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages(case), stream=True)
            return "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
        if mode == "streaming_response":
            with client.chat.completions.with_streaming_response.create(model=MODEL, messages=messages(case)) as r:
                return r.parse().choices[0].message.content or ""
        if mode == "parse":
            return client.chat.completions.parse(model=MODEL, messages=messages(case)).choices[0].message.content or ""
        if mode == "responses":
            result = client.responses.with_raw_response.create(
                model=MODEL, instructions=PLAIN_SYSTEM, input=messages(case)[1]["content"]
            )
            return result.parse().output_text
        raise ValueError(f"unknown mode {mode!r}; one of {OPENAI_MODES}")

    async def ask_async(case: Case, aclient: Any) -> str:
        with _request(tracer, case):
            completion = await aclient.chat.completions.with_raw_response.create(model=MODEL, messages=messages(case))
            return completion.parse().choices[0].message.content or ""

    if mode == "async":

        async def run() -> list[str]:
            aclient = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)
            return [await ask_async(c, aclient) for c in cases]

        return asyncio.run(run())
    answers = []
    for case in cases:
        with _request(tracer, case):
            answers.append(ask(case))
    return answers


def anthropic_app(
    base_url: str, mode: str, cases: Sequence[Case] = CASES, provider: TracerProvider | None = None
) -> list[str]:
    import anthropic
    import openai

    tracer = _tracer(provider)
    client = anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), api_key=API_KEY, max_retries=0)
    handbook = _Handbook(openai.OpenAI(base_url=base_url, api_key=API_KEY), f"handbook-anthropic-raw-{mode}")

    def request(case: Case) -> dict[str, Any]:
        return {
            "model": ANTHROPIC_MODEL,
            "max_tokens": 300,
            "system": f"{PLAIN_SYSTEM}\n\n<documents>\n{handbook.context(case.question)}\n</documents>",
            "messages": [{"role": "user", "content": case.question}],
        }

    def ask(case: Case) -> str:
        if mode == "create":
            return "".join(b.text for b in client.messages.create(**request(case)).content if b.type == "text")
        if mode == "stream":
            events = client.messages.create(**request(case), stream=True)
            return "".join(
                e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
            )
        if mode == "stream_helper":
            with client.messages.stream(**request(case)) as stream:
                return "".join(stream.text_stream)
        if mode == "raw":
            message = client.messages.with_raw_response.create(**request(case)).parse()
            return "".join(b.text for b in message.content if b.type == "text")
        raise ValueError(f"unknown mode {mode!r}; one of {ANTHROPIC_MODES}")

    if mode == "async":

        async def run() -> list[str]:
            aclient = anthropic.AsyncAnthropic(base_url=base_url.removesuffix("/v1"), api_key=API_KEY, max_retries=0)
            out = []
            for case in cases:
                with _request(tracer, case):
                    async with aclient.messages.stream(**request(case)) as stream:
                        out.append("".join([t async for t in stream.text_stream]))
            return out

        return asyncio.run(run())
    answers = []
    for case in cases:
        with _request(tracer, case):
            answers.append(ask(case))
    return answers


APPS: dict[str, Callable[..., list[str]]] = {
    "langchain": langchain,
    "langchain_anthropic": langchain_anthropic,
    "llamaindex": llamaindex,
    "openai": openai_app,
    "anthropic": anthropic_app,
}
