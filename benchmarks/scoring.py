"""Scoring throughput of the default scorers on ~2 KB contexts, against a baseline measured in the
same run: plain tokenization of the same text. Figures are ratios and rates per core (one thread)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from mre.examples.corpus import load_corpus
from mre.model import Document, Interaction, Retrieval
from mre.processor.pipeline import ScoringPipeline
from mre.processor.scorers import faithfulness
from mre.processor.scorers.text import words
from mre.processor.worker import BATCH_TRACES


def make_interactions(
    n: int, seed: int = 1, context_bytes: int = 2048, distinct_chunks: int = 2000
) -> list[Interaction]:
    """Answers over ~2 KB contexts drawn from a corpus of ``distinct_chunks`` chunks (variants of the
    bundled policies), as a production index would serve them: chunks recur, combinations differ."""
    rng = random.Random(seed)
    corpus = load_corpus()
    chunks = [
        (f"{d.id}-{k}", f"{d.text} Reference {k} applies to {d.title.lower()}.")
        for k in range(distinct_chunks // len(corpus.documents) + 1)
        for d in corpus.documents
    ][:distinct_chunks]
    out = []
    for i in range(n):
        docs: list[Document] = []
        size = 0
        while size < context_bytes:
            chunk_id, text = rng.choice(chunks)
            docs.append(Document(chunk_id, text, rank=len(docs)))
            size += len(text)
        question = rng.choice(corpus.questions)
        source = rng.choice(docs).content or ""
        answer = " ".join(source.split(". ")[:2]) + "."
        out.append(
            Interaction(
                trace_id=f"{i:032x}",
                span_id=f"{i:016x}",
                question=question,
                answer=answer,
                retrievals=(Retrieval(span_id="0" * 16, query=question, documents=docs),),
            )
        )
    return out


def _clear_caches() -> None:
    from mre.processor.scorers._cache import clear_all

    clear_all()


def pipeline_rate(interactions: list[Interaction], clock: Callable[[], float] = time.perf_counter) -> float:
    """Interactions a fresh default pipeline scores per second on ``clock``, caches starting empty
    and filling as chunks recur (what a running service sees), in the service worker's batches."""
    pipeline = ScoringPipeline()
    _clear_caches()
    started = clock()
    for k in range(0, len(interactions), BATCH_TRACES):  # as the service's worker scores them
        pipeline.score_many(interactions[k : k + BATCH_TRACES])
    return len(interactions) / (clock() - started)


def run(n: int = 2000) -> dict[str, Any]:
    interactions = make_interactions(n)
    pipeline = ScoringPipeline()
    started = time.perf_counter()
    for i in interactions:
        words(i.question or "")
        words(i.answer or "")
        for c in i.contexts or ():
            words(c)
    baseline_s = time.perf_counter() - started
    scoring_s = n / pipeline_rate(interactions)
    started = time.perf_counter()
    for i in interactions[: n // 4]:
        _clear_caches()
        pipeline.score(i)
    cold_s = (time.perf_counter() - started) * 4
    # The faithfulness scorer alone, cold: what #17 holds to 2,000 answers/s/core on 2 KB contexts.
    started = time.perf_counter()
    for i in interactions[: n // 4]:
        _clear_caches()
        faithfulness(i)
    faithfulness_cold_s = (time.perf_counter() - started) * 4
    return {
        "interactions": n,
        "context_bytes": 2048,
        "baseline_tokenize_per_s": n / baseline_s,
        "scored_per_s_per_core": n / scoring_s,
        "scored_per_s_per_core_cold_caches": n / cold_s,
        "scoring_cost_vs_tokenize_ratio": scoring_s / baseline_s,
        "faithfulness_per_s_per_core_cold_caches": n / faithfulness_cold_s,
        "faithfulness_cost_vs_tokenize_ratio": faithfulness_cold_s / baseline_s,
        "goal_scored_per_s_per_core": 2000,
    }
