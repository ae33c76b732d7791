"""`mre serve`: the behaviour processor as an OTLP receiver."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from mre.cli._judges import add_judge_options, judged_faithfulness


def add_parser(sub: Any) -> argparse.ArgumentParser:
    serve = sub.add_parser(
        "serve", help="score spans received over OTLP/gRPC and OTLP/HTTP (behind an OpenTelemetry Collector)"
    )
    serve.add_argument(
        "--config", metavar="FILE", help="a YAML file of these settings (flags and MRE_* variables override it)"
    )
    serve.add_argument("--listen", default="0.0.0.0:4317", help="OTLP gRPC address (default 0.0.0.0:4317)")
    serve.add_argument(
        "--listen-http",
        default="0.0.0.0:4318",
        help="OTLP/HTTP address, protobuf or JSON (default 0.0.0.0:4318; `off` disables)",
    )
    serve.add_argument("--metrics", default="0.0.0.0:9464", help="/metrics and /healthz address (default 0.0.0.0:9464)")
    serve.add_argument(
        "--forward", metavar="HOST:PORT", help="send enriched spans and evaluation logs here (OTLP gRPC)"
    )
    serve.add_argument("--forward-tls", action="store_true", help="use TLS towards --forward")
    serve.add_argument("--forward-token", help="bearer token to send downstream")
    serve.add_argument(
        "--strip-content",
        action="store_true",
        help="forwarded spans and records keep every score but no prompt, answer or document text",
    )
    serve.add_argument("--token", help="require this bearer token from senders (or set MRE_TOKEN)")
    serve.add_argument("--tls-cert", help="PEM certificate for the gRPC listener")
    serve.add_argument("--tls-key", help="PEM private key for the gRPC listener")
    serve.add_argument("--max-message-bytes", type=int, default=16 * 1024 * 1024, help="largest request accepted")
    serve.add_argument("--slos", metavar="FILE", help="the SLO file (default: the shipped slos.yaml)")
    serve.add_argument("--grace", type=float, default=2.0, help="seconds to wait after a trace's root span ends")
    serve.add_argument("--trace-timeout", type=float, default=60.0, help="seconds before a rootless trace is scored")
    serve.add_argument(
        "--metadata-keys",
        metavar="OURS=THEIRS,...",
        help="the index's names for the metadata scoring reads, for every dialect, e.g. "
        "updated_at=last_modified,acl=allowed_groups (default: MRE_METADATA_KEYS)",
    )
    serve.add_argument(
        "--feedback-traces",
        type=int,
        default=20_000,
        metavar="N",
        help="human verdicts can judge the last N scored traces (~280 bytes each; default 20000)",
    )
    add_judge_options(serve)
    serve.set_defaults(func=run)
    return serve


# Objects allocated between two collections of the youngest generation (CPython's default is 700).
# Scoring allocates and frees many small objects per answer that reference counting already reclaims;
# collecting every 700 allocations also promotes them, and full collections then walk every long-lived
# object (the per-text caches among them). Measured on `make bench`'s service payload: the collector's
# share of the worker's time fell from ~7 % to ~1 % with the startup heap frozen and this threshold.
GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """This process is the service's alone: what was built at start-up (modules, the scorers' tables,
    the SLOs) is never garbage, so it leaves the collector's view (``gc.freeze``), and the youngest
    generation is collected less often. Cyclic garbage still goes, a little later."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


# The BLAS numpy links may start a thread per core; the service's matrix products (drift tests at a
# scrape) are small, and OpenBLAS's idle threads spin for a while after each: measured on `make bench`'s
# service run, that spinning cost a tenth of the service's CPU. One thread unless the operator says.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """Before numpy is imported (it reads these once, when it loads its BLAS)."""
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


def run(args: argparse.Namespace) -> int:
    one_blas_thread()
    from mre.exporters.serve import start_service
    from mre.metadata import ENV_METADATA_KEYS, parse_metadata_keys
    from mre.processor.service import ServiceConfig

    token = args.token or os.environ.get("MRE_TOKEN") or None
    try:
        raw_keys = args.metadata_keys if args.metadata_keys is not None else os.environ.get(ENV_METADATA_KEYS, "")
        try:
            metadata_keys = parse_metadata_keys(raw_keys)
        except ValueError as exc:
            raise ValueError(f"--metadata-keys: {exc}") from None
        config = ServiceConfig(
            listen=args.listen,
            listen_http=None if args.listen_http in ("", "off") else args.listen_http,
            max_message_bytes=args.max_message_bytes,
            token=token,
            tls_cert=Path(args.tls_cert).read_bytes() if args.tls_cert else None,
            tls_key=Path(args.tls_key).read_bytes() if args.tls_key else None,
            grace_s=args.grace,
            timeout_s=args.trace_timeout,
            metadata_keys=metadata_keys,
        )
        if args.feedback_traces < 1:
            raise ValueError("--feedback-traces must be at least 1")
    except (OSError, ValueError) as exc:
        print(f"mre serve: {exc}", file=sys.stderr)
        return 2
    headers = [("authorization", f"Bearer {args.forward_token}")] if args.forward_token else []
    slos = None
    if args.slos:
        from mre.slo_files import load
        from mre.slo_spec import SpecError

        try:
            slos = load(args.slos).runtime_slos
        except (OSError, UnicodeDecodeError, SpecError) as exc:
            print(f"mre serve: {exc}", file=sys.stderr)
            return 2
    judged = judged_faithfulness(args)
    scorers = None
    if judged is not None:
        from mre.processor.scorers import default_scorers

        scorers = {**default_scorers(), "faithfulness": judged}
    try:
        running = start_service(
            config,
            scorers=scorers,
            slos=slos,
            metrics=args.metrics,
            forward=args.forward,
            forward_insecure=not args.forward_tls,
            forward_headers=headers,
            strip_content=args.strip_content,
            feedback_traces=args.feedback_traces,
        )
    except (OSError, ValueError) as exc:
        print(f"mre serve: {exc}", file=sys.stderr)
        return 2
    tune_gc()
    http = running.service.http_port
    print(
        f"mre serve: OTLP/gRPC on {args.listen} (port {running.port})"
        + (f", OTLP/HTTP on port {http}" if http is not None else "")
        + f", /metrics and /healthz on port {running.metrics_port}"
        + (f", forwarding to {args.forward}" if args.forward else ""),
        file=sys.stderr,
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    print("mre serve: stopping, draining what is held", file=sys.stderr, flush=True)
    running.stop()
    return 0
