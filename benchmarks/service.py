"""`mre serve` throughput and memory, fed by the SDK's real OTLP gRPC exporter.

Figures, all from one run on the same payload (realistic RAG traces: retrieval + chat + guardrail,
~2 KB of text each):
- raw OTLP decode rate (protobuf parse only): the ceiling;
- ingest + assembly rate (decode, lazy span records, trace assembly), as a ratio of the ceiling;
- scored interactions per CPU-second of the service process (per core), end to end over gRPC, next
  to the same interactions scored by the pipeline alone in this process (their ratio is what the
  service costs beyond scoring: receiving, assembly, reading the dialects, metrics). Measured in
  ``MRE_BENCH_PASSES`` pairs (default 3), each a fresh service and a fresh pipeline with empty caches
  back to back, so that both sides of a pair share the machine's moment; the figures are medians;
- where that ratio's gap lies, from the service's own `mre_processor_cpu_seconds_total{step}`: each
  step's CPU per answer (and the rest of the process: gRPC, decoding, HTTP), scoring's share of the
  service's CPU, and scoring inside the service against the same scoring alone;
- the CPU one /metrics scrape costs the service;
- resident memory of the service after 30 s and at the end of a sustained load.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from benchmarks.scoring import make_interactions, pipeline_rate
from mre.cli.serve import tune_gc
from mre.exporters import conventions as c
from mre.instrumentation import generation, guardrail, retrieval, set_default_capture
from mre.processor.assembly import TraceAssembler
from mre.processor.drift import REFRESH_S
from mre.processor.otlp import decode_spans
from mre.processor.service import ingest_decoded
from mre.processor.worker import STEP_SCORE, STEPS

BATCH = 512  # spans per export, as the SDK's BatchSpanProcessor sends them


class _Factory:
    """One provider for the whole run (a provider per call would pile up: each registers at exit)."""

    def __init__(self) -> None:
        set_default_capture(True)
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))


_FACTORY: _Factory | None = None


def make_traces(n: int) -> list[list[ReadableSpan]]:
    global _FACTORY
    if _FACTORY is None:
        _FACTORY = _Factory()
    memory, provider = _FACTORY.memory, _FACTORY.provider
    memory.clear()
    tracer = provider.get_tracer("bench")
    for i in make_interactions(n):
        with tracer.start_as_current_span("rag.answer"):
            with retrieval("kb", query=i.question, top_k=5, tracer_provider=provider) as r:
                r.record_documents(i.documents or [])
            with generation(
                "bench-model",
                provider="openai",
                tracer_provider=provider,
                messages=[{"role": "user", "content": i.question}],
            ) as g:
                g.record_output(i.answer, response_id=f"r-{i.trace_id}")
            with guardrail("pii", tracer_provider=provider) as gr:
                gr.record_verdict("allow")
    spans = list(memory.get_finished_spans())
    return [spans[k : k + BATCH] for k in range(0, len(spans), BATCH)]


def decode_figures(batches: list[list[ReadableSpan]], repeat: int = 3) -> dict[str, float]:
    payloads = [encode_spans(b).SerializeToString() for b in batches]
    n_spans = sum(len(b) for b in batches)
    raw = ingest = floor = float("inf")
    for _ in range(repeat):  # best of N: the machine is noisy, both sides get the same treatment
        started = time.perf_counter()
        for p in payloads:
            ExportTraceServiceRequest.FromString(p)
        raw = min(raw, time.perf_counter() - started)
        # The floor for any Python consumer: parse, then touch each span's ids once.
        started = time.perf_counter()
        for p in payloads:
            for rs in ExportTraceServiceRequest.FromString(p).resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        _ids = (span.trace_id, span.span_id, span.parent_span_id)
        floor = min(floor, time.perf_counter() - started)
        assembler = TraceAssembler(max_traces=10**6, max_bytes=2**34)
        started = time.perf_counter()
        now = time.monotonic()
        for p in payloads:  # what the gRPC handler and the worker do before any scoring
            ingest_decoded(decode_spans(ExportTraceServiceRequest.FromString(p), len(p)), assembler, now)
        ingest = min(ingest, time.perf_counter() - started)
    return {
        "spans": n_spans,
        "payload_bytes_per_span": sum(map(len, payloads)) / n_spans,
        "raw_decode_spans_per_s": n_spans / raw,
        "ingest_assembly_spans_per_s": n_spans / ingest,
        "ingest_vs_raw_decode_ratio": raw / ingest,
        "python_floor_spans_per_s": n_spans / floor,
        "ingest_vs_python_floor_ratio": floor / ingest,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """Seconds of CPU of every thread the process has run, exited ones included, to the nanosecond:
    the kernel's process CPU clock (``clock_getcpuclockid``, whose id Linux derives from the pid as
    below). ``/proc/PID/stat`` counts 10 ms ticks, a ~1 % step on a one-second pass."""
    try:
        return time.clock_gettime(((~pid) << 3) | _CPUCLOCK_SCHED)
    except OSError:  # not Linux, or the kernel refuses: the tick count
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_CPUCLOCK_SCHED = 2  # include/linux/posix-timers.h: the process-wide scheduler clock (no per-thread bit)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        match = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    return int(match.group(1)) / 1024 if match else float("nan")


def _scrape(metrics_port: int, family: str | None = None) -> str:
    """The service's /metrics: one family alone (``name[]``: only its collector runs, as a progress
    poll should cost), or all of it."""
    query = f"?name[]={family}" if family else ""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics{query}", timeout=5) as r:
        return r.read().decode()


_INTERACTIONS_SAMPLE = re.compile(rf"^{c.INTERACTIONS_METRIC}\{{[^}}]*\}} (\S+)$", re.M)
_CPU_METRIC = c.total(c.METRIC_CPU_SECONDS)
_STEP_SAMPLE = re.compile(rf'^{_CPU_METRIC}\{{{c.LABEL_STEP}="(\w+)"\}} (\S+)$', re.M)


def _interactions(metrics_port: int, *, full: bool = False) -> float:
    """Interactions scored so far, by a scrape of that family alone or by a whole scrape."""
    text = _scrape(metrics_port, None if full else c.INTERACTIONS_METRIC)
    return sum(float(m) for m in _INTERACTIONS_SAMPLE.findall(text))


def _worker_cpu(metrics_port: int) -> dict[str, float]:
    """The service's own account of its worker thread's CPU seconds, by step (what an operator sees)."""
    return {step: float(value) for step, value in _STEP_SAMPLE.findall(_scrape(metrics_port, _CPU_METRIC))}


def start_serve(
    *extra: str, ports: tuple[int, int] | None = None, stderr: Any = subprocess.DEVNULL
) -> tuple[subprocess.Popen[bytes], int, int]:
    """`mre serve` in its own process (on free ports unless given); returns once /metrics answers."""
    port, metrics_port = ports or (_free_port(), _free_port())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-P",  # not the working directory first: PYTHONPATH can choose the build (the compiled one)
            "-m",
            "mre",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--metrics",
            f"127.0.0.1:{metrics_port}",
            "--listen-http",
            "127.0.0.1:0",  # a free port: runs side by side never share 4318
            "--grace",
            "0.5",
            *extra,
        ],
        stderr=stderr,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            _interactions(metrics_port)
            return proc, port, metrics_port
        except OSError:
            if time.monotonic() > deadline:
                proc.terminate()
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def _serving() -> Iterator[tuple[subprocess.Popen[bytes], OTLPSpanExporter, int]]:
    """A fresh `mre serve`, the SDK's OTLP exporter towards it, and its metrics port."""
    proc, port, metrics_port = start_serve()
    try:
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=30)
        yield proc, exporter, metrics_port
        exporter.shutdown()
    finally:
        proc.terminate()
        proc.wait(30)


def _one_pass(
    proc: subprocess.Popen[bytes], exporter: OTLPSpanExporter, metrics_port: int, batches: list[list[ReadableSpan]]
) -> tuple[float, float, dict[str, float]]:
    """Throughput: one pass into a fresh service, in the service's own CPU seconds, and wall seconds;
    and the CPU seconds its worker says each step took."""
    steps0 = _worker_cpu(metrics_port)
    cpu0, wall0 = _cpu_seconds(proc.pid), time.perf_counter()
    for batch in batches:
        exporter.export(batch)
    # Polled twice a second for that one family: the throughput is what receiving, scoring and
    # recording cost; what a whole scrape costs is measured on its own (service_figures).
    while _interactions(metrics_port) < _traces(batches):
        time.sleep(0.5)
    cpu, wall = _cpu_seconds(proc.pid) - cpu0, time.perf_counter() - wall0
    return cpu, wall, {step: seconds - steps0.get(step, 0.0) for step, seconds in _worker_cpu(metrics_port).items()}


def _split(cpu: float, steps: dict[str, float], traces: int) -> dict[str, float]:
    """A pass's service CPU per answer (µs), by the worker's steps and the rest of the process
    (gRPC, decoding the requests, the HTTP side, the interpreter's other threads)."""
    split = {step: steps.get(step, 0.0) / traces * 1e6 for step in STEPS}
    split["outside_worker"] = cpu / traces * 1e6 - sum(split.values())
    return split


def _traces(batches: list[list[ReadableSpan]]) -> int:
    return sum(len(b) for b in batches) // 4  # make_traces: four spans a trace


def pass_rate(batches: list[list[ReadableSpan]]) -> tuple[float, dict[str, float]]:
    """Scored interactions per CPU-second of a fresh `mre serve` over one pass of ``batches``, and
    that CPU per answer by step."""
    with _serving() as (proc, exporter, metrics_port):
        cpu, _, steps = _one_pass(proc, exporter, metrics_port, batches)
    return _traces(batches) / cpu, _split(cpu, steps, _traces(batches))


def service_figures(batches: list[list[ReadableSpan]], soak_s: float) -> dict[str, Any]:
    """One pass (throughput, in CPU and wall seconds), whole scrapes, then memory under ``soak_s`` of load."""
    with _serving() as (proc, exporter, metrics_port):
        traces_per_pass = _traces(batches)
        cpu, wall, steps = _one_pass(proc, exporter, metrics_port, batches)
        _interactions(metrics_port, full=True)  # the first whole scrape runs every drift test
        scrape_cpu0 = _cpu_seconds(proc.pid)
        for _ in range(20):  # these reuse them: nothing new arrived
            _interactions(metrics_port, full=True)
        scrape_ms = (_cpu_seconds(proc.pid) - scrape_cpu0) / 20 * 1000
        # New answers, then a scrape once the tests are REFRESH_S old: it reruns every one of them
        # (what a scrape under steady load costs at most once per period).
        for batch in make_traces(BATCH // 4):
            exporter.export(batch)
        while _interactions(metrics_port) < traces_per_pass + BATCH // 4:
            time.sleep(0.2)
        time.sleep(REFRESH_S + 0.5)
        scrape_cpu0 = _cpu_seconds(proc.pid)
        _interactions(metrics_port, full=True)
        drift_scrape_ms = (_cpu_seconds(proc.pid) - scrape_cpu0) * 1000
        # Memory under sustained load: keep sending (new trace ids each pass) for soak_s.
        rss: dict[str, float] = {}
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < soak_s:
            for batch in make_traces(BATCH // 4):  # fresh trace ids each pass, same shape
                exporter.export(batch)
            if "30s" not in rss and elapsed >= 30:
                rss["30s"] = _rss_mib(proc.pid)
        rss["end"] = _rss_mib(proc.pid)
        return {
            "interactions": traces_per_pass,
            "scored_interactions_per_cpu_s": traces_per_pass / cpu,
            "scored_interactions_per_wall_s": traces_per_pass / wall,
            "split": _split(cpu, steps, traces_per_pass),
            "scrape_cpu_ms": scrape_ms,
            "scrape_cpu_ms_redoing_drift_tests": drift_scrape_ms,
            "soak_seconds": soak_s,
            "soak_interactions_scored": _interactions(metrics_port) - traces_per_pass - BATCH // 4,
            "rss_mib_at_30s": rss.get("30s"),
            "rss_mib_at_end": rss["end"],
            "rss_end_vs_30s_ratio": rss["end"] / rss["30s"] if rss.get("30s") else None,
        }


def scorers_alone(traces: int) -> float:
    """The same interactions scored by the pipeline alone, in CPU time of this process: what the
    service would reach if receiving cost nothing. Under the garbage-collector settings `mre serve`
    runs with (``tune_gc``), so the ratio compares receiving with scoring, not two collectors."""
    saved = gc.get_threshold()
    tune_gc()
    try:
        return pipeline_rate(make_interactions(traces), time.process_time)
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)


def run(traces: int = 2000, soak_s: float | None = None, passes: int | None = None) -> dict[str, Any]:
    soak = float(os.environ.get("MRE_BENCH_SOAK_SECONDS", "300")) if soak_s is None else soak_s
    pairs = max(1, int(os.environ.get("MRE_BENCH_PASSES", "3")) if passes is None else passes)
    batches = make_traces(traces)
    # Pairs back to back: the scorers alone, then a fresh service on the same payload (the last pair's
    # service goes on to the scrape and the soak).
    alone, end_to_end, splits = [], [], []
    for k in range(pairs):
        alone.append(scorers_alone(traces))
        if k < pairs - 1:
            rate, split = pass_rate(batches)
            end_to_end.append(rate)
            splits.append(split)
    figures = service_figures(batches, soak)
    end_to_end.append(figures["scored_interactions_per_cpu_s"])
    splits.append(figures.pop("split"))
    ratios = [e / a for e, a in zip(end_to_end, alone, strict=True)]
    # Where the gap to the scorers alone lies, by the service's own account of its worker: scoring
    # inside the service against the same scoring alone (same pair), and each step's CPU per answer.
    in_service = [split[STEP_SCORE] * a / 1e6 for split, a in zip(splits, alone, strict=True)]
    return {
        **decode_figures(batches),
        **figures,
        "service_scoring_share_of_cpu": statistics.median(split[STEP_SCORE] / sum(split.values()) for split in splits),
        "service_scoring_vs_scorers_alone": statistics.median(in_service),
        **{f"service_us_per_answer_{part}": statistics.median(split[part] for split in splits) for part in splits[0]},
        "passes": len(ratios),
        # Medians over the pairs; the wall-clock rate above is the last pair's pass alone.
        "scored_interactions_per_cpu_s": statistics.median(end_to_end),
        "scorers_alone_per_cpu_s": statistics.median(alone),
        "end_to_end_vs_scorers_alone_ratio": statistics.median(ratios),
        "ratio_lowest_pass": min(ratios),
        "ratio_highest_pass": max(ratios),
        "goal_ingest_vs_raw": 0.5,
        "goal_end_to_end_vs_scorers_alone": 0.8,
        "goal_scored_per_s_per_core": 2000,
    }
