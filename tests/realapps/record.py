"""Record the real-application matrix: every app of ``tests/realapps/apps.py`` under one
instrumentation, run against the scripted local model, spans written to
``tests/fixtures/apps/<instrumentation>/<app>-<mode>.json.gz``.

Each instrumentation runs in its own virtualenv with the versions pinned in
``tests/realapps/requirements/<instrumentation>.txt`` (they pin conflicting versions of their
dependencies); ``make record-apps`` builds the venvs and runs this script in each:

    python -m tests.realapps.record openllmetry            # all apps this instrumentation covers
    python -m tests.realapps.record openinference-langchain --only langchain-invoke

Not part of the test run: the tests replay the recordings (and run the apps live under mre).
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import os
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "apps"
APP_LIBRARIES = (
    "openai",
    "anthropic",
    "chromadb",
    "langchain-core",
    "langchain-openai",
    "langchain-anthropic",
    "langchain-chroma",
    "llama-index-core",
    "llama-index-llms-openai",
    "llama-index-embeddings-openai",
)


def _mre(provider: TracerProvider) -> list[str]:
    import mre.instrumentation

    mre.instrumentation.instrument(tracer_provider=provider)
    return ["mre-otel"]


def _openllmetry(provider: TracerProvider) -> list[str]:
    os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
    return _instrument_each(
        provider,
        [
            (f"opentelemetry-instrumentation-{name}", f"opentelemetry.instrumentation.{name}", cls)
            for name, cls in (
                ("openai", "OpenAIInstrumentor"),
                ("anthropic", "AnthropicInstrumentor"),
                ("chromadb", "ChromaInstrumentor"),
                ("langchain", "LangchainInstrumentor"),
                ("llamaindex", "LlamaIndexInstrumentor"),
            )
        ],
    )


def _instrument_each(provider: TracerProvider, instrumentors: list[tuple[str, str, str]]) -> list[str]:
    """(package, module, class) each; one that is not installed here is left out, and said so (the
    tests record the raw-client apps in an environment that has only the client instrumentors)."""
    packages = []
    for package, module, cls in instrumentors:
        try:
            instrumentor = getattr(importlib.import_module(module), cls)
        except ImportError:
            print(f"{package} is not installed: not instrumented", file=sys.stderr)
            continue
        instrumentor().instrument(tracer_provider=provider)
        packages.append(package)
    return packages


def _openinference(clients: bool) -> Callable[[TracerProvider], list[str]]:
    frameworks = [
        ("openinference-instrumentation-langchain", "openinference.instrumentation.langchain", "LangChainInstrumentor"),
        (
            "openinference-instrumentation-llama-index",
            "openinference.instrumentation.llama_index",
            "LlamaIndexInstrumentor",
        ),
    ]
    client_instrumentors = [
        ("openinference-instrumentation-openai", "openinference.instrumentation.openai", "OpenAIInstrumentor"),
        ("openinference-instrumentation-anthropic", "openinference.instrumentation.anthropic", "AnthropicInstrumentor"),
    ]

    def setup(provider: TracerProvider) -> list[str]:
        return _instrument_each(provider, frameworks + (client_instrumentors if clients else []))

    return setup


def _official(with_mre: bool) -> Callable[[TracerProvider], list[str]]:
    def setup(provider: TracerProvider) -> list[str]:
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
        packages = ["opentelemetry-instrumentation-genai-openai", "opentelemetry-util-genai"]
        if with_mre:  # mre's auto-instrumentation beside it: mre yields openai, traces the rest
            packages += _mre(provider)
        return packages

    return setup


def _openlit(provider: TracerProvider) -> list[str]:
    import openlit

    openlit.init(capture_message_content=True, disable_metrics=True, disable_batch=True)
    return ["openlit"]


INSTRUMENTATIONS: dict[str, Callable[[TracerProvider], list[str]]] = {
    "mre": _mre,
    "openllmetry": _openllmetry,
    "openinference-framework": _openinference(clients=False),
    "openinference-framework-client": _openinference(clients=True),
    "official-genai": _official(with_mre=False),
    "official-genai-mre": _official(with_mre=True),
    "openlit": _openlit,
}

# (app, mode) pairs recorded for every instrumentation; an app whose calls the instrumentation does
# not reach at all is still recorded: the matrix says what it shows.
RUNS: tuple[tuple[str, str], ...] = (
    ("langchain", "invoke"),
    ("langchain", "stream"),
    ("langchain", "batch"),
    ("langchain", "ainvoke"),
    ("langchain", "astream"),
    ("langchain_anthropic", "invoke"),
    ("langchain_anthropic", "stream"),
    ("llamaindex", "query"),
    ("openai", "create"),
    ("openai", "stream"),
    ("openai", "raw"),
    ("anthropic", "create"),
    ("anthropic", "stream_helper"),
)


def _value(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def span_json(s: ReadableSpan) -> dict[str, Any]:
    assert s.context is not None
    return {
        "trace_id": f"{s.context.trace_id:032x}",
        "span_id": f"{s.context.span_id:016x}",
        "parent_span_id": f"{s.parent.span_id:016x}" if s.parent else None,
        "name": s.name,
        "kind": s.kind.name,
        "start": s.start_time,
        "end": s.end_time,
        "attributes": {k: _value(v) for k, v in (s.attributes or {}).items()},
        "events": [
            {"name": e.name, "time": e.timestamp, "attributes": {k: _value(v) for k, v in (e.attributes or {}).items()}}
            for e in s.events
        ],
        "resource": {k: _value(v) for k, v in s.resource.attributes.items()},
        "scope": s.instrumentation_scope.name if s.instrumentation_scope else "",
    }


def _versions(names: list[str]) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def record(instrumentation: str, only: set[str] | None = None, out: Path = OUT) -> None:
    from tests.realapps.apps import APPS
    from tests.realapps.model import start_server

    memory = InMemorySpanExporter()
    resource = {"service.name": "handbook-assistant"}
    if instrumentation == "openlit":
        resource["telemetry.sdk.name"] = "openlit"
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    packages = INSTRUMENTATIONS[instrumentation](provider)
    server = start_server()
    target = out / instrumentation
    target.mkdir(parents=True, exist_ok=True)
    try:
        for app, mode in RUNS:
            name = f"{app}-{mode}"
            if only is not None and name not in only:
                continue
            memory.clear()
            try:
                answers = APPS[app](server.url, mode, provider=provider)
            except Exception as exc:  # an app this environment cannot run: say so, record the rest
                print(f"{instrumentation}/{name}: FAILED {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            provider.force_flush()
            spans = [span_json(s) for s in memory.get_finished_spans()]
            recorded = {
                "instrumentation": instrumentation,
                "app": app,
                "mode": mode,
                "libraries": _versions([*packages, *APP_LIBRARIES]),
                "answers": answers,
                "spans": spans,
            }
            path = target / f"{name}.json.gz"
            # mtime=0: the same recording gives the same bytes.
            with gzip.GzipFile(path, "wb", mtime=0) as gz:
                gz.write(json.dumps(recorded, indent=None, sort_keys=True).encode())
            print(f"{instrumentation}/{name}: {len(spans)} spans, {len(answers)} answers -> {path}")
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("instrumentation", choices=sorted(INSTRUMENTATIONS))
    parser.add_argument("--only", action="append", help="APP-MODE to record (repeatable); default: all")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the recordings (default tests/fixtures/apps)")
    args = parser.parse_args(argv)
    record(args.instrumentation, set(args.only) if args.only else None, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
