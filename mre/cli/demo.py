"""`mre demo`: the RAG demo with injected faults, scored in-process."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path
from typing import Any

from mre.cli._render import drift_table, pct

DEMO_METRICS_PORT = 9464


def add_parser(sub: Any) -> None:
    demo = sub.add_parser("demo", help="run the RAG demo with injected faults, scored in-process")
    demo.add_argument("--interactions", "-n", type=int, default=600, help="answers to generate (default 600)")
    demo.add_argument("--seed", type=int, default=7, help="seed for questions and faults (default 7)")
    demo.add_argument(
        "--metrics-port",
        type=int,
        default=DEMO_METRICS_PORT,
        help="port for /metrics; 0 picks a free one, -1 disables (default 9464, or a free one if it is taken)",
    )
    demo.add_argument("--metrics-addr", default="127.0.0.1", help="address for /metrics (default 127.0.0.1)")
    demo.add_argument("--report", metavar="PATH", help="write the results as JSON")
    demo.add_argument("--serve", action="store_true", help="keep /metrics up after the run until interrupted")
    demo.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    demo.add_argument("--export-otlp", metavar="HOST:PORT", help="send scored spans and records on over OTLP/gRPC")
    demo.add_argument(
        "--keep-content",
        action="store_true",
        help="with --export-otlp, keep the text (default: score then strip, no text leaves)",
    )
    demo.add_argument(
        "--degrade-after",
        type=int,
        default=300,
        metavar="N",
        help="the local model server switches to a degraded model version after N answers; -1: never (default 300)",
    )
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from mre.examples.demo import run_demo, write_report

    err = Console(stderr=True)
    out = Console()

    def keep_serving(url: str | None) -> None:
        if not args.serve:
            return
        err.print(f"serving {url} until interrupted (Ctrl-C)")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()

    with Progress(
        TextColumn("[bold]scoring answers"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=args.quiet,
        transient=False,
    ) as progress:
        task = progress.add_task("demo", total=args.interactions)
        metrics_port = None if args.metrics_port < 0 else args.metrics_port
        if not args.quiet and metrics_port is None:
            err.print("/metrics disabled")

        def run(port: int | None) -> Any:
            return run_demo(
                on_metrics=None if args.quiet else lambda url: err.print(f"/metrics on {url} while the demo runs"),
                interactions=args.interactions,
                seed=args.seed,
                metrics_port=port,
                metrics_addr=args.metrics_addr,
                on_progress=lambda done, total: progress.update(task, completed=done),
                keep_serving=keep_serving,
                export_otlp=args.export_otlp,
                strip_content=not args.keep_content,
                degrade_after=args.degrade_after if args.degrade_after >= 0 else None,
            )

        try:
            report = run(metrics_port)
        except OSError as exc:
            if metrics_port != DEMO_METRICS_PORT or "in use" not in str(exc).lower():
                raise
            # `make demo` on a machine where 9464 is taken (another exporter): any free port will do.
            err.print(f"port {DEMO_METRICS_PORT} is in use: serving /metrics on a free port instead")
            report = run(0)

    faults = Table(title=f"Injected faults vs detected ({report.interactions} interactions scored)")
    faults.add_column("fault", no_wrap=True, min_width=24)
    for column in ("injected", "found", "false+", "recall", "precision"):
        faults.add_column(column, justify="right")
    for kind, t in report.faults.items():
        faults.add_row(kind, str(t.injected), str(t.detected), str(t.false_positives), pct(t.recall), pct(t.precision))
    out.print(faults)
    slos = Table(title="SLOs (this run)")
    for column in ("slo", "good", "total", "SLI", "objective", "status"):
        slos.add_column(column, justify="left" if column in ("slo", "status") else "right")
    for name, s in report.slos.items():
        ratio = s["ratio"]
        status = "-" if ratio is None else ("met" if ratio >= s["objective"] else "[red]breached[/red]")
        slos.add_row(name, str(s["good"]), str(s["total"]), pct(ratio), pct(s["objective"]), status)
    out.print(slos)
    if len(report.drift) > 1:
        out.print(drift_table(report.drift))
    for name, c in report.calibration.get("evaluations", {}).items():
        out.print(
            f"human verdicts: {name} agrees with {pct(c['agreement'])} of {c['verdicts']} "
            f"(kappa {c['kappa_recent']:.2f}, {c['missed_failures_recent']} missed failures)"
        )
    out.print(
        f"{report.evaluation_records} gen_ai.evaluation.result records emitted; {report.unscored} answers not scored"
    )
    if args.report:
        write_report(report, Path(args.report))
        out.print(f"report written to {args.report}")
    return 0
