"""Retrieval and guardrail libraries, real and in memory: Chroma, Qdrant (local mode), LangChain and
LlamaIndex retrievers, Presidio as a PII guardrail."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mre import semconv as sc
from mre.instrumentation import checking
from mre.instrumentation._settings import set_metadata_keys

DOCS = [
    (
        "refunds-v2",
        "Customers may request a refund within 30 days of delivery.",
        {"last_modified": "2025-02-10", "version": 2},
    ),
    ("shipping-v2", "Shipping is free for orders over $50.", {"last_modified": "2025-08-01", "version": 2}),
]


def documents(span: Any) -> list[dict[str, Any]]:
    return json.loads(span.attributes[sc.GEN_AI_RETRIEVAL_DOCUMENTS])  # type: ignore[no-any-return]


@pytest.fixture
def instrument(tracer_provider: TracerProvider) -> Iterator[Any]:
    active: list[Any] = []

    def use(instrumentor_cls: Any) -> Any:
        instrumentor = instrumentor_cls()
        instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True)
        active.append(instrumentor)
        return instrumentor

    yield use
    for instrumentor in active:
        instrumentor.uninstrument()


def test_chroma_query_keeps_distances_metadata_and_text(
    instrument: Any, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    import chromadb

    from mre.instrumentation.chromadb import ChromaInstrumentor

    instrument(ChromaInstrumentor)
    set_metadata_keys({"updated_at": "last_modified"})
    try:
        collection = chromadb.EphemeralClient().get_or_create_collection("policies-test", embedding_function=None)
        collection.upsert(
            ids=[d[0] for d in DOCS],
            documents=[d[1] for d in DOCS],
            metadatas=[d[2] for d in DOCS],
            embeddings=[[1.0, 0.0], [0.0, 1.0]],
        )
        span_exporter.clear()
        result = collection.query(query_embeddings=[[0.9, 0.1]], n_results=2)
    finally:
        set_metadata_keys({})
    assert result["ids"][0] == ["refunds-v2", "shipping-v2"]  # the app's result is untouched
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "retrieval policies-test"
    assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "chroma" and span.attributes[sc.GEN_AI_REQUEST_TOP_K] == 2
    first, second = documents(span)
    assert first["id"] == "refunds-v2" and first["score"] is None and first["distance"] == pytest.approx(0.02, abs=1e-3)
    assert first["content"] == DOCS[0][1]
    assert first["metadata"]["updated_at"] == "2025-02-10"  # mapped from the index's own key
    assert second["rank"] == 1


def test_qdrant_local_mode_query_points_with_scores_and_payload(
    instrument: Any, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    from qdrant_client import QdrantClient, models

    from mre.instrumentation.qdrant import QdrantInstrumentor

    instrument(QdrantInstrumentor)
    client = QdrantClient(location=":memory:")
    client.create_collection("kb", vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE))
    client.upsert(
        "kb",
        points=[
            models.PointStruct(id=i, vector=v, payload={"text": d[1], **d[2]})
            for i, (d, v) in enumerate(zip(DOCS, [[1.0, 0.0], [0.0, 1.0]], strict=True))
        ],
    )
    response = client.query_points("kb", query=[0.9, 0.1], limit=2, with_payload=True)
    assert len(response.points) == 2
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "retrieval kb" and span.attributes[sc.GEN_AI_PROVIDER_NAME] == "qdrant"
    first = documents(span)[0]
    assert first["id"] == "0" and first["score"] > 0.9 and first["content"] == DOCS[0][1]
    # "last_modified" is a name loaders write: it is also recorded as the updated_at scoring reads.
    assert first["metadata"] == {"last_modified": "2025-02-10", "version": 2, "updated_at": "2025-02-10"}


def test_langchain_retrievers_sync_and_async(
    instrument: Any, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    from mre.instrumentation.langchain import LangChainRetrieverInstrumentor

    class PolicyRetriever(BaseRetriever):
        k: int = 2

        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
            return [Document(page_content=t, metadata=m, id=i) for i, t, m in DOCS]

    instrument(LangChainRetrieverInstrumentor)
    retriever = PolicyRetriever()
    assert len(retriever.invoke("refund window?")) == 2
    asyncio.run(retriever.ainvoke("refund window?"))
    sync_span, async_span = span_exporter.get_finished_spans()
    for span in (sync_span, async_span):
        assert span.name == "retrieval PolicyRetriever"
        assert span.attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] == "refund window?"
        assert span.attributes[sc.GEN_AI_REQUEST_TOP_K] == 2
        assert [d["id"] for d in documents(span)] == ["refunds-v2", "shipping-v2"]


def test_llama_index_retriever_with_scores(
    instrument: Any, span_exporter: InMemorySpanExporter, capture_on: None
) -> None:
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding

    from mre.instrumentation.llama_index import LlamaIndexRetrieverInstrumentor

    Settings.embed_model = MockEmbedding(embed_dim=8)
    index = VectorStoreIndex.from_documents([Document(text=t, metadata=m, doc_id=i) for i, t, m in DOCS])
    instrument(LlamaIndexRetrieverInstrumentor)
    nodes = index.as_retriever(similarity_top_k=2).retrieve("refund window?")
    assert len(nodes) == 2
    spans = [s for s in span_exporter.get_finished_spans() if s.name.startswith("retrieval")]
    (span,) = spans
    assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "llama_index"
    assert span.attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] == "refund window?"
    docs = documents(span)
    assert {d["content"] for d in docs} == {DOCS[0][1], DOCS[1][1]}
    assert all(isinstance(d["score"], float) for d in docs)


def test_presidio_is_a_pii_guardrail(instrument: Any, span_exporter: InMemorySpanExporter) -> None:
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine

    from mre.instrumentation.presidio import PresidioInstrumentor

    class BlankEnglish(NlpEngine):  # no model download: a tokenizer is all the pattern recognizers need
        def __init__(self) -> None:
            self.nlp = spacy.blank("en")

        def load(self) -> None: ...
        def is_loaded(self) -> bool:
            return True

        def process_text(self, text: str, language: str) -> NlpArtifacts:
            doc = self.nlp(text)
            return NlpArtifacts(
                entities=[],
                tokens=doc,
                tokens_indices=[t.idx for t in doc],
                lemmas=[t.text.lower() for t in doc],
                nlp_engine=self,
                language=language,
            )

        def process_batch(
            self, texts: Any, language: str, batch_size: int = 1, n_process: int = 1, **kwargs: Any
        ) -> Any:
            for text in texts:
                yield text, self.process_text(text, language)

        def is_stopword(self, word: str, language: str) -> bool:
            return False

        def is_punct(self, word: str, language: str) -> bool:
            return False

        def get_supported_entities(self) -> list[str]:
            return []

        def get_supported_languages(self) -> list[str]:
            return ["en"]

    instrument(PresidioInstrumentor)
    engine = AnalyzerEngine(nlp_engine=BlankEnglish(), supported_languages=["en"])
    engine.analyze(text="Where is my parcel?", language="en", entities=["EMAIL_ADDRESS", "PHONE_NUMBER"])
    with checking("output"):
        found = engine.analyze(text="Mail jane@example.com", language="en", entities=["EMAIL_ADDRESS"])
    assert found
    clean, pii = span_exporter.get_finished_spans()
    assert clean.name == "run_guardrail presidio" and clean.attributes[sc.GEN_AI_GUARDRAIL_VERDICT_TYPE] == "allow"
    assert pii.attributes[sc.GEN_AI_GUARDRAIL_VERDICT_TYPE] == "deny"
    assert pii.attributes[sc.GEN_AI_GUARDRAIL_TARGET_TYPE] == "output"
    assert tuple(pii.attributes[sc.GEN_AI_GUARDRAIL_RISK_CATEGORY]) == ("EMAIL_ADDRESS",)
    assert "jane@example.com" not in json.dumps(dict(pii.attributes))


def test_guardrails_ai_guard_is_a_guardrail_span(
    instrument: Any, span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # Guardrails AI phones home unless told not to, and fetches NLTK's punkt at import when it is
    # missing: no traffic may leave the test, so both are settled locally first.
    (tmp_path / ".guardrailsrc").write_text("enable_metrics=false\n")
    (tmp_path / "nltk_data" / "tokenizers" / "punkt").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "nltk_data"))
    guardrails = pytest.importorskip("guardrails")
    from guardrails.validators import FailResult, PassResult, Validator, register_validator

    from mre.instrumentation.guardrails_ai import GuardrailsInstrumentor

    @register_validator(name="mre-test/no-guarantees", data_type="string")
    class NoGuarantees(Validator):
        def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
            return FailResult(error_message="promises a guarantee") if "guaranteed" in value.lower() else PassResult()

    instrument(GuardrailsInstrumentor)
    guard = guardrails.Guard(name="answer-policy").use(NoGuarantees(on_fail=guardrails.OnFailAction.NOOP))
    assert guard.validate("Refunds take 5 business days.").validation_passed
    assert not guard.validate("Refunds are guaranteed.").validation_passed
    ok, failed = [s for s in span_exporter.get_finished_spans() if s.name == "run_guardrail answer-policy"]
    assert ok.attributes[sc.GEN_AI_GUARDRAIL_VERDICT_TYPE] == "allow"
    assert failed.attributes[sc.GEN_AI_GUARDRAIL_VERDICT_TYPE] == "deny"
    assert tuple(failed.attributes[sc.GEN_AI_GUARDRAIL_RISK_CATEGORY]) == ("NoGuarantees",)
    assert failed.attributes[sc.GEN_AI_GUARDRAIL_TARGET_TYPE] == "output"
