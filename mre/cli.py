"""The ``mre`` command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mre

DEMO_METRICS_PORT = 9464


def _demo(args: argparse.Namespace) -> int:
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
        faults.add_row(
            kind, str(t.injected), str(t.detected), str(t.false_positives), _pct(t.recall), _pct(t.precision)
        )
    out.print(faults)
    slos = Table(title="SLOs (this run)")
    for column in ("slo", "good", "total", "SLI", "objective", "status"):
        slos.add_column(column, justify="left" if column in ("slo", "status") else "right")
    for name, s in report.slos.items():
        ratio = s["ratio"]
        status = "-" if ratio is None else ("met" if ratio >= s["objective"] else "[red]breached[/red]")
        slos.add_row(name, str(s["good"]), str(s["total"]), _pct(ratio), _pct(s["objective"]), status)
    out.print(slos)
    if len(report.drift) > 1:
        out.print(_drift_table(report.drift))
    for name, c in report.calibration.get("evaluations", {}).items():
        out.print(
            f"human verdicts: {name} agrees with {_pct(c['agreement'])} of {c['verdicts']} "
            f"(kappa {c['kappa_recent']:.2f}, {c['missed_failures_recent']} missed failures)"
        )
    out.print(
        f"{report.evaluation_records} gen_ai.evaluation.result records emitted; {report.unscored} answers not scored"
    )
    if args.report:
        write_report(report, Path(args.report))
        out.print(f"report written to {args.report}")
    return 0


def _drift_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="Model versions vs the previous one (faithfulness)")
    for column in ("model", "n", "Δ mean", "p", "questions", "verdict"):
        table.add_column(column, justify="left" if column in ("model", "verdict") else "right", no_wrap=True)
    for row in rows:
        faithfulness = row["evaluations"].get("faithfulness")
        degraded = any(e["degraded"] for e in row["evaluations"].values())
        questions = {None: "-", True: "[yellow]changed[/yellow]", False: "same mix"}[row["questions_drifted"]]
        if degraded:
            verdict = "[red]worse; new inputs[/red]" if row["questions_drifted"] else "[red]behaviour worse[/red]"
        else:
            verdict = "stable" if faithfulness is not None else "no baseline yet"
        table.add_row(
            row["model"],
            str(row["answers"]),
            "-" if faithfulness is None else f"{faithfulness['mean_difference']:+.3f}",
            "-" if faithfulness is None else f"{faithfulness['p_value']:.1g}",
            questions,
            verdict,
        )
    return table


def _serve(args: argparse.Namespace) -> int:
    import os

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
        from mre.slo_spec import SpecError, load

        try:
            slos = load(args.slos).runtime_slos
        except (OSError, UnicodeDecodeError, SpecError) as exc:
            print(f"mre serve: {exc}", file=sys.stderr)
            return 2
    judged = _judged_faithfulness(args)
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


def _gate(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from mre.processor.gate import QUESTION_ALPHA, gate, question_mix
    from mre.processor.offline import InvalidLine, evaluate, read_examples

    runs = {}
    questions: dict[str, list[str]] = {}
    for label in ("baseline", "candidate"):
        path = Path(getattr(args, label))
        try:
            with path.open(encoding="utf-8") as handle:
                examples, _ = read_examples(handle, skip_invalid=args.skip_invalid)
        except OSError as exc:
            print(f"mre eval: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return 2
        except UnicodeDecodeError as exc:
            print(f"mre eval: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
            return 2
        except InvalidLine as exc:
            print(f"mre eval: {path}: {exc} (pass --skip-invalid to skip such lines)", file=sys.stderr)
            return 2
        if not examples:
            print(f"mre eval: {path}: no valid example to compare ({label} is empty)", file=sys.stderr)
            return 2
        questions[label] = [e.interaction.question or "" for e in examples]
        report = evaluate(examples)  # fresh scorers per run: no state crosses from one run to the other
        runs[label] = {name: [s[name].value for _, s in report.scored if name in s] for name in report.scorers}
    results = gate(runs["baseline"], runs["candidate"], margin=args.margin)
    table = Table(title=f"{args.candidate} vs {args.baseline} (margin {args.margin:g}, 95% bootstrap interval)")
    for column in ("scorer", "baseline", "candidate", "difference", "interval", "verdict"):
        table.add_column(column, justify="left" if column in ("scorer", "verdict") else "right")
    for r in results:
        verdict = "[red]REGRESSION[/red]" if r.regression else "ok"
        table.add_row(
            r.name,
            f"{r.mean_baseline:.3f}",
            f"{r.mean_candidate:.3f}",
            f"{r.difference:+.3f}",
            f"[{r.low:+.3f}, {r.high:+.3f}]",
            verdict,
        )
    console = Console()
    console.print(table)
    mix = question_mix(questions["baseline"], questions["candidate"])
    if mix is not None and mix.drifted(QUESTION_ALPHA):
        console.print(
            f"[yellow]warning: the runs were asked different questions (permutation p={mix.p_value:.2g}, "
            f"distance {mix.distance:.3f}): score differences may come from the questions, not the model[/yellow]"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "margin": args.margin,
                    "regression": any(r.regression for r in results),
                    "questions": None
                    if mix is None
                    else {"p_value": mix.p_value, "distance": mix.distance, "differ": mix.drifted(QUESTION_ALPHA)},
                    "scorers": {
                        r.name: {
                            "baseline": r.mean_baseline,
                            "candidate": r.mean_candidate,
                            "difference": r.difference,
                            "low": r.low,
                            "high": r.high,
                            "n_baseline": r.n_baseline,
                            "n_candidate": r.n_candidate,
                            "regression": r.regression,
                        }
                        for r in results
                    },
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 1 if any(r.regression for r in results) else 0


def _eval(args: argparse.Namespace) -> int:
    import json

    if args.baseline or args.candidate:
        if not (args.baseline and args.candidate) or args.file:
            print("mre eval: the gate takes --baseline and --candidate (and no FILE)", file=sys.stderr)
            return 2
        return _gate(args)
    if not args.file:
        print("mre eval: give a FILE, or --baseline and --candidate", file=sys.stderr)
        return 2

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from mre.processor.baselines import BASELINES
    from mre.processor.offline import InvalidLine, evaluate, read_examples
    from mre.processor.scorers import default_scorers

    BASELINE_NAMES = tuple(BASELINES)
    err, out = Console(stderr=True), Console()
    path = Path(args.file)
    try:
        with path.open(encoding="utf-8") as handle:
            examples, skipped = read_examples(handle, skip_invalid=args.skip_invalid)
    except OSError as exc:
        print(f"mre eval: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"mre eval: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return 2
    except InvalidLine as exc:
        print(f"mre eval: {path}: {exc} (pass --skip-invalid to skip such lines)", file=sys.stderr)
        return 2
    if not examples:
        print(
            f"mre eval: {path}: no valid example to score" + (f" ({len(skipped)} invalid)" if skipped else ""),
            file=sys.stderr,
        )
        return 2
    for problem in skipped:
        err.print(f"mre eval: skipped {path}: {problem}")
    scorers = default_scorers()
    judged = _judged_faithfulness(args)
    if judged is not None:
        scorers["faithfulness"] = judged
    if args.scorers:
        names = [n.strip() for n in args.scorers.split(",") if n.strip()]
        unknown = sorted(set(names) - set(scorers))
        if unknown:
            err.print(f"mre eval: unknown scorers {unknown}; known: {sorted(scorers)}")
            return 2
        scorers = {n: scorers[n] for n in names}
    with Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        disable=len(examples) < 200 or args.quiet,
    ) as progress:
        task = progress.add_task("eval", total=len(examples))
        report = evaluate(
            examples, scorers, on_progress=lambda done, _: progress.update(task, completed=done), skipped=skipped
        )
    table = Table(title=f"{path.name}: {report.n} interactions, {report.n_labeled} labeled")
    table.add_column("scorer", no_wrap=True)
    for column in ("scored", "mean", "AUROC", "AUROC*", "ECE", "thr", "precision", "recall", "F1"):
        table.add_column(column, justify="right")
    for r in report.scorers.values():
        table.add_row(
            r.name,
            str(r.n_scored),
            _num(r.mean),
            _num(r.auroc),
            _num(r.length_matched_auroc),
            _num(r.ece),
            f"{r.threshold:g}",
            _pct(r.precision),
            _pct(r.recall),
            _pct(r.f1),
        )
    for name in BASELINE_NAMES:
        if name in report.baselines:  # beside the scorers: a scorer below these adds nothing
            table.add_row(
                f"[dim]baseline: {name}[/dim]",
                "",
                "",
                _num(report.baselines[name]),
                _num(report.baselines_length_matched.get(name)),
                *([""] * 5),
            )
    out.print(table)
    if report.by_source:
        by_source = Table(title="AUROC per source")
        by_source.add_column("source", no_wrap=True)
        names = [n for n in report.scorers if any(g.auroc.get(n) is not None for g in report.by_source.values())]
        for column in ("rows", *names, *(f"baseline: {b}" for b in BASELINE_NAMES)):
            by_source.add_column(column, justify="right")
        for source, g in report.by_source.items():
            by_source.add_row(
                source,
                str(g.n),
                *(_num(g.auroc.get(n)) for n in names),
                *(_num(g.baselines.get(b)) for b in BASELINE_NAMES),
            )
        out.print(by_source)
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        out.print(f"JSON written to {args.json}")
    if args.html:
        from mre.exporters.html_report import render

        Path(args.html).write_text(render(report, path.name), encoding="utf-8")
        out.print(f"HTML report written to {args.html}")
    return 0


def _judged_faithfulness(args: argparse.Namespace) -> Any:
    import os

    from mre.processor.judges import build_faithfulness

    low, _, high = (args.judge_band or "0.2,0.85").partition(",")
    try:
        return build_faithfulness(
            judge_url=args.judge_url,
            judge_model=args.judge_model,
            judge_api_key=os.environ.get("MRE_JUDGE_API_KEY", "unused"),
            embedding=args.embedding_judge,
            nli_model=args.nli_model,
            nli_entailment_label=args.nli_entailment_label,
            band=(float(low), float(high)),
            sample_rate=args.judge_sample_rate,
            rate_per_s=args.judge_rate,
            budget_per_day=args.judge_budget,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        # A judge that cannot be built (no such model directory, an unreadable head, a bad band) stops
        # the command before anything is scored, as argparse does for a bad option.
        print(f"mre: judge: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _add_judge_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("judges (extras; the default is offline)")
    group.add_argument("--judge-url", help="OpenAI-compatible endpoint of an LLM judge (key in MRE_JUDGE_API_KEY)")
    group.add_argument("--judge-model", default="gpt-4o-mini", help="the judge's model name")
    group.add_argument("--embedding-judge", action="store_true", help="escalate to the bundled embedding model")
    group.add_argument(
        "--nli-model", metavar="DIR", help="escalate to a local NLI / cross-encoder model directory (never a hub id)"
    )
    group.add_argument("--nli-entailment-label", help="the NLI model's entailment label or index, if not named so")
    group.add_argument("--judge-band", help="uncertain band of the offline score that escalates (default 0.2,0.85)")
    group.add_argument("--judge-sample-rate", type=float, default=1.0, help="share of uncertain answers escalated")
    group.add_argument("--judge-rate", type=float, help="judge calls per second at most")
    group.add_argument("--judge-budget", type=float, help="judge calls per day at most")


def _slo_build(args: argparse.Namespace) -> int:
    from mre.slo_spec import SpecError, load, load_default, replace_service

    try:
        spec = load(args.file) if args.file else load_default()
    except (OSError, UnicodeDecodeError, SpecError) as exc:
        print(f"mre slo build: {exc}", file=sys.stderr)
        return 2
    if args.service:
        spec = replace_service(spec, args.service)
    if args.format == "openslo":
        from mre.exporters.slo_openslo import dropped, render_openslo

        out = Path(args.out)
        target = out / "openslo.yaml" if out.is_dir() or not out.suffix else out
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_openslo(spec), encoding="utf-8")
        for what in dropped(spec):
            print(f"mre slo build: not in OpenSLO: {what}", file=sys.stderr)
        print(f"wrote {target}")
        return 0
    from mre.exporters.slo_build import build

    for path in build(spec, Path(args.out)):
        print(f"wrote {path}")
    return 0


def _slo_check(args: argparse.Namespace) -> int:
    from mre.slo_spec import SpecError, load
    from mre.slo_windows import windows

    try:
        spec = load(args.file)
    except (OSError, UnicodeDecodeError, SpecError) as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    print(f"{args.file}: {len(spec.slos)} SLOs for service {spec.service!r}: OK")
    for s in spec.slos:
        factors = " / ".join(f"{f:.4g}" for _, f in windows(s.slo.window_days))
        sli = (
            f"event {s.event}"
            if s.event
            else f"{s.slo.scorer} >= {s.slo.threshold:g}"
            if s.evaluated_by_mre
            else "queries"
        )
        print(f"  {s.slo.name}: {s.slo.objective * 100:g}% over {s.slo.window_days}d ({sli}); burn factors {factors}")
    return 0


def _slo_init(args: argparse.Namespace) -> int:
    from mre.slo_spec import init_text

    try:
        text = init_text(args.service)
    except ValueError as exc:
        print(f"mre slo init: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"mre slo init: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}: SLOs for service {args.service!r}; next: mre slo check {out} && mre slo build {out}")
    return 0


def _slo_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from mre.exporters.slo_status import fetch

    try:
        statuses = fetch(args.prometheus, args.service)
    except (OSError, RuntimeError) as exc:
        print(f"mre slo status: cannot read {args.prometheus}: {exc}", file=sys.stderr)
        return 2
    if not statuses:
        print("no SLO series found: are the rules from `mre slo build` loaded?", file=sys.stderr)
        return 1
    table = Table(title=f"SLOs at {args.prometheus}")
    table.add_column("service")
    table.add_column("slo")
    for column in ("objective", "SLI (1h)", "budget left", "burn 5m", "burn period"):
        table.add_column(column, justify="right")
    for s in statuses:
        burn = "-" if s.burn_rate_5m is None else f"{s.burn_rate_5m:.2f}x"
        period = "-" if s.burn_rate_period is None else f"{s.burn_rate_period:.2f}x"
        table.add_row(s.service, s.slo, _pct(s.objective), _pct(s.sli), _pct(s.budget_remaining), burn, period)
    Console().print(table)
    return 0


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mre", description="Model Reliability Engineering on OpenTelemetry")
    parser.add_argument("--version", action="version", version=f"mre-otel {mre.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", required=True)

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
    demo.set_defaults(func=_demo)

    evaluate = sub.add_parser("eval", help="score a JSONL file of interactions; with labels, measure the scorers")
    evaluate.add_argument("file", nargs="?", help="JSONL: question, contexts, answer[, faithful, model] per line")
    evaluate.add_argument("--baseline", metavar="A.jsonl", help="gate: the run to compare against")
    evaluate.add_argument("--candidate", metavar="B.jsonl", help="gate: exits 1 on a regression beyond --margin")
    evaluate.add_argument("--margin", type=float, default=0.0, help="gate: the drop in mean score tolerated")
    evaluate.add_argument("--json", metavar="OUT", help="write the results as JSON")
    evaluate.add_argument("--html", metavar="OUT", help="write a self-contained HTML report")
    evaluate.add_argument("--scorers", help="comma-separated scorer names (default: the offline default set)")
    evaluate.add_argument("--skip-invalid", action="store_true", help="skip malformed lines instead of failing")
    evaluate.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    _add_judge_options(evaluate)
    evaluate.set_defaults(func=_eval)

    slo = sub.add_parser("slo", help="SLOs as code: validate the SLO file, generate rules and dashboards")
    slo_sub = slo.add_subparsers(dest="slo_command", required=True)
    slo_build = slo_sub.add_parser("build", help="generate Prometheus rules (and dashboards) under dashboards/")
    slo_build.add_argument("file", nargs="?", help="the SLO file (default: the shipped slos.yaml)")
    slo_build.add_argument("--out", default="dashboards", help="output folder (default dashboards/)")
    slo_build.add_argument("--service", help="the service the rules select (default: the file's)")
    slo_build.add_argument(
        "--format",
        choices=("prometheus", "openslo"),
        default="prometheus",
        help="prometheus: rules, dashboards, Alertmanager example; openslo: OpenSLO v1 documents",
    )
    slo_build.set_defaults(func=_slo_build)
    slo_init = slo_sub.add_parser("init", help="write a starting SLO file for your service")
    slo_init.add_argument("--service", required=True, help="your app's service.name")
    slo_init.add_argument("--out", default="slos.yaml", help="where to write it (default slos.yaml)")
    slo_init.add_argument("--force", action="store_true", help="overwrite an existing file")
    slo_init.set_defaults(func=_slo_init)
    slo_status = slo_sub.add_parser("status", help="per SLO: SLI, budget remaining and burn rates from Prometheus")
    slo_status.add_argument("--prometheus", default="http://localhost:9090", help="Prometheus base URL")
    slo_status.add_argument("--service", help="only this service")
    slo_status.set_defaults(func=_slo_status)
    slo_check = slo_sub.add_parser(
        "check", help="validate an SLO file (mre/v1, Sloth prometheus/v1, OpenSLO v1); errors name file, line and field"
    )
    slo_check.add_argument("file")
    slo_check.set_defaults(func=_slo_check)

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
    _add_judge_options(serve)
    serve.set_defaults(func=_serve)
    SUBCOMMANDS["serve"] = serve
    config = sub.add_parser("config", help="the `mre serve` configuration file")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_check = config_sub.add_parser("check", help="validate an `mre serve --config` file (file:line errors)")
    config_check.add_argument("file")
    config_check.set_defaults(func=_config_check)
    return parser


SUBCOMMANDS: dict[str, argparse.ArgumentParser] = {}


def _config_check(args: argparse.Namespace) -> int:
    from mre import serve_config
    from mre.slo_spec import SpecError

    try:
        values = serve_config.load(args.file, SUBCOMMANDS["serve"])
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.file}: {len(values)} settings for mre serve: OK")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Every failure is one line on stderr and a non-zero exit, never a traceback (``-v`` adds it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if getattr(args, "interactions", 1) <= 0:
        parser.error("--interactions must be positive")
    if args.command == "serve":
        from mre import serve_config
        from mre.slo_spec import SpecError

        try:
            SUBCOMMANDS["serve"].set_defaults(**serve_config.defaults(SUBCOMMANDS["serve"], args.config))
        except (OSError, ValueError, SpecError) as exc:
            print(f"mre serve: {exc}", file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
    sub_command = getattr(args, "slo_command", None) or getattr(args, "config_command", None)
    command = " ".join(a for a in ("mre", args.command, sub_command) if a)
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        with contextlib.suppress(OSError):
            sys.stdout.close()
        return 0
    except UnicodeDecodeError as exc:
        print(f"{command}: a file is not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        if args.verbose:
            raise
        text = str(exc)
        if getattr(args, "metrics_port", None) and "in use" in text.lower():
            text += ": pass --metrics-port 0 for a free port"
        print(f"{command}: {text}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
