"""Added latency per LLM call: bare client vs mre vs the official OpenTelemetry instrumentation vs
OpenLLMetry vs OpenInference, in one run, on the same call (a chat completion with ~2 KB of context
against the local server), content capture on for all, same SDK pipeline (batch processor, dropping
exporter). Rounds interleave the variants so that machine noise hits them alike. The local server
runs in its own process, and the time spent in the HTTP transport (network and server) is measured
on every call and taken out: what is left is the client-side cost, and a variant's added latency is
its median client-side cost minus the bare client's."""

from __future__ import annotations

import importlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

VARIANTS = {
    "mre": ("mre.instrumentation.openai", "OpenAIInstrumentor"),
    "official_genai_openai": ("opentelemetry.instrumentation.genai.openai", "OpenAIInstrumentor"),
    "openllmetry": ("opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
    "openinference": ("openinference.instrumentation.openai", "OpenAIInstrumentor"),
}


class _Count(SpanExporter):
    """Drops spans, counting them: each variant must have produced one span per call."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def _snapshot() -> dict[tuple[Any, str], Any]:
    """OpenLLMetry 0.62 leaves its wrapper behind on uninstrument with openai 3 (it unwraps an old
    module path): every variant starts from the library as it was."""
    import openai

    from mre.instrumentation.openai import PATCHES

    owners = [importlib.import_module(p.module).__dict__[p.cls] for p in PATCHES] + [openai.OpenAI, openai.AsyncOpenAI]
    return {(o, n): o.__dict__[n] for o in owners for n in ("create", "request") if n in o.__dict__}


def _context() -> str:
    from mre.examples.corpus import load_corpus

    docs = load_corpus().documents
    text, i = "", 0
    while len(text) < 2048:
        text += f"[{docs[i % len(docs)].id}] {docs[i % len(docs)].text}\n"
        i += 1
    return text


def run(calls_per_round: int = 60, rounds: int = 5) -> dict[str, Any]:
    import openai

    from mre.instrumentation import set_default_capture

    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
    os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
    set_default_capture(True)
    messages = [{"role": "user", "content": f"Context:\n{_context()}\nQuestion: How long do refunds take?"}]
    counter = _Count()
    provider = TracerProvider()
    processor = BatchSpanProcessor(counter, max_queue_size=100_000)
    provider.add_span_processor(processor)
    pristine = _snapshot()
    spans: dict[str, int] = {}
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    available = {}
    for name, (module, cls) in VARIANTS.items():
        try:
            available[name] = getattr(importlib.import_module(module), cls)()
        except ImportError:
            continue
    latencies: dict[str, list[float]] = {name: [] for name in ["bare", *available]}
    # The server runs in its own process: in-process, its thread would share the client's GIL.
    server = subprocess.Popen(
        [sys.executable, "-m", "mre.examples.llm_server", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = (server.stdout.readline() if server.stdout else "").strip()
        client = openai.OpenAI(base_url=url, api_key="bench", max_retries=0)
        transport: list[float] = []
        http = client._client  # the SDK's HTTP client: time its send to take the network out
        send = http.send

        def timed_send(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return send(*args, **kwargs)
            finally:
                transport.append(time.perf_counter() - started)

        http.send = timed_send
        for _ in range(20):  # warm the connection and the server
            client.chat.completions.create(model="m", messages=messages)
        for _ in range(rounds):
            for name in latencies:
                instrumentor = available.get(name)
                processor.force_flush()
                before = counter.count
                if instrumentor is not None:
                    instrumentor.instrument(tracer_provider=provider, meter_provider=meters, skip_dep_check=True)
                try:
                    for _ in range(calls_per_round):
                        transport.clear()
                        started = time.perf_counter()
                        client.chat.completions.create(model="m", messages=messages)
                        latencies[name].append(time.perf_counter() - started - sum(transport))
                finally:
                    if instrumentor is not None:
                        instrumentor.uninstrument()
                    for (owner, attribute), original in pristine.items():
                        setattr(owner, attribute, original)
                processor.force_flush()
                spans[name] = spans.get(name, 0) + counter.count - before
    finally:
        server.terminate()
        server.wait(10)
    provider.shutdown()
    bare = statistics.median(latencies["bare"])
    added = {name: statistics.median(v) - bare for name, v in latencies.items() if name != "bare"}
    figures: dict[str, Any] = {
        "context_bytes": len(messages[0]["content"]),
        "calls_per_variant": rounds * calls_per_round,
        "bare_client_side_median_ms": bare * 1000,
    }
    for name, value in added.items():
        figures[f"added_ms_{name}"] = value * 1000
    if "official_genai_openai" in added and added["official_genai_openai"] > 0:
        figures["mre_vs_official_ratio"] = added["mre"] / added["official_genai_openai"]
    figures["goal_mre_vs_official_ratio_at_most"] = 1 / 3
    figures["spans_per_call"] = {name: n / (rounds * calls_per_round) for name, n in spans.items()}
    return figures
