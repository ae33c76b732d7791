"""A small RAG application: retrieve policy passages, ask the model, check the answer.

Instrumented like a user's app would be: the OpenAI call by the auto-instrumentation (no code here),
retrieval and the input and output guardrails by the manual stage API. Run it alone with
``opentelemetry-instrument python -m mre.examples.rag_app`` (starts the local model server unless
``OPENAI_BASE_URL`` is set).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from mre import semconv as sc
from mre.examples.corpus import Corpus, load_corpus
from mre.examples.retriever import BM25Index
from mre.instrumentation import guardrail, retrieval
from mre.model import Document

SYSTEM_PROMPT = (
    "You answer questions about company policy using only the context. Cite the document id. "
    "If the context does not answer the question, say you don't know."
)
DATA_SOURCE = "policies"
_PII = {
    "pii.email": re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"),
    "pii.phone": re.compile(r"\+?\d[\d ()-]{8,}\d"),
}
# What the input guardrail flags in a question (it warns and lets the question through).
_INJECTION = re.compile(r"\b(?:ignore (?:all |the )?(?:previous|above) instructions|system prompt)\b", re.I)


class RagApp:
    def __init__(
        self,
        client: Any,
        *,
        model: str = "mre-demo-model-v1",
        corpus: Corpus | None = None,
        top_k: int = 3,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.corpus = corpus or load_corpus()
        self.top_k = top_k
        self.index = BM25Index([f"{d.title}. {d.text}" for d in self.corpus.documents])
        self._tracer_provider = tracer_provider
        self._tracer = trace.get_tracer("mre.examples.rag_app", tracer_provider=tracer_provider)

    def retrieve(self, question: str) -> list[Document]:
        with retrieval(
            DATA_SOURCE,
            query=question,
            top_k=self.top_k,
            provider="bm25",
            tracer_provider=self._tracer_provider,
        ) as step:
            docs = []
            for rank, hit in enumerate(self.index.search(question, self.top_k)):
                policy = self.corpus.documents[hit.index]
                docs.append(Document(policy.id, policy.text, round(hit.score, 4), None, rank, policy.metadata()))
            step.record_documents(docs)
        return docs

    def answer(self, question: str, *, principal: str = "employee") -> str:
        return self.answer_traced(question, principal=principal)[0]

    def answer_traced(self, question: str, *, principal: str = "employee") -> tuple[str, int]:
        """The answer and its trace id (what a web app hands its UI, so a thumbs up/down can be sent
        back with ``mre.feedback(trace_id, ...)``)."""
        attributes = {sc.MRE_PRINCIPAL: principal, sc.MRE_ROUTE: "policy-qa"}
        with self._tracer.start_as_current_span("rag.answer", attributes=attributes) as span:
            trace_id = span.get_span_context().trace_id
            self.check_input(question)
            docs = self.retrieve(question)
            context = "\n".join(f"[{d.id}] {d.content}" for d in docs)
            completion = self.client.chat.completions.create(
                model=self.model,
                temperature=0,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"},
                ],
            )
            text: str = completion.choices[0].message.content or ""
            self.check_output(text)
            return text, trace_id

    def check_input(self, question: str) -> bool:
        """The input guardrail: flag (and still answer) questions that try to override the instructions."""
        with guardrail("prompt-injection", target="input", tracer_provider=self._tracer_provider) as step:
            flagged = bool(_INJECTION.search(question))
            step.record_verdict("warn" if flagged else "allow", categories=["injection"] if flagged else [])
        return not flagged

    def check_output(self, text: str) -> bool:
        """The output guardrail: block answers that leak contact details."""
        with guardrail("contact-details", target="output", tracer_provider=self._tracer_provider) as step:
            found = [name for name, pattern in _PII.items() if pattern.search(text)]
            step.record_verdict("deny" if found else "allow", categories=found)
        return not found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=5, help="how many corpus questions to ask")
    args = parser.parse_args(argv)

    import openai

    from mre.examples.llm_server import FaultyLLMServer

    server = None
    base_url = os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        server = FaultyLLMServer().start()
        base_url = server.url
    client = openai.OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "local"))
    app = RagApp(client)
    try:
        for question in app.corpus.questions[: args.questions]:
            print(f"Q: {question}\nA: {app.answer(question)}\n")
    finally:
        if server is not None:
            server.stop()
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", None)
    if callable(flush):
        flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
