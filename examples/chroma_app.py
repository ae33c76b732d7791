"""A RAG app with no mre code at all: Chroma for retrieval, OpenAI for embeddings, the answer and
moderation. Run it under ``opentelemetry-instrument`` to see mre-otel's spans appear:

    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 opentelemetry-instrument python -m mre.examples.chroma_app

(without ``OPENAI_BASE_URL`` it starts the local model server of the demo).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import chromadb
import openai

POLICIES = {
    "refunds-v2": "Customers may request a refund within 30 days of delivery, except for customized items.",
    "shipping-v2": "Shipping is free for orders over $50, except for deliveries to remote islands.",
    "warranty-v1": "Products carry a 2 year warranty from the date of purchase.",
}
QUESTIONS = ("How many days do customers have to request a refund?", "How long is the product warranty?")


def main() -> int:
    server = None
    base_url = os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        from mre.examples.llm_server import FaultPlan, FaultyLLMServer

        server = FaultyLLMServer(FaultPlan(rates={}, style=False)).start()
        base_url = server.url
    client = openai.OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "local"), max_retries=0)
    store = chromadb.EphemeralClient().get_or_create_collection("policies", embedding_function=None)
    ids = list(POLICIES)
    vectors = client.embeddings.create(model="text-embedding-3-small", input=[POLICIES[i] for i in ids])
    embeddings: Any = [d.embedding for d in vectors.data]  # chroma's stubs want numpy; lists are accepted
    store.upsert(
        ids=ids,
        documents=[POLICIES[i] for i in ids],
        embeddings=embeddings,
        metadatas=[{"source": i, "updated_at": "2025-01-01"} for i in ids],
    )
    try:
        for question in QUESTIONS:
            query: Any = [client.embeddings.create(model="text-embedding-3-small", input=question).data[0].embedding]
            found = store.query(query_embeddings=query, n_results=2)
            texts = found["documents"] or [[]]
            context = "\n".join(f"[{i}] {t}" for i, t in zip(found["ids"][0], texts[0], strict=True))
            answer = (
                client.chat.completions.create(
                    model="mre-demo-model-v1",
                    messages=[{"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"}],
                )
                .choices[0]
                .message.content
                or ""
            )
            client.moderations.create(input=answer)
            print(f"Q: {question}\nA: {answer}\n")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
