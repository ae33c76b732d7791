"""`mre slo`: validate SLO files, write a starting one, generate rules and dashboards, read their status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mre.cli._render import pct


def add_parser(sub: Any) -> None:
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
    slo_build.set_defaults(func=build)
    slo_init = slo_sub.add_parser("init", help="write a starting SLO file for your service")
    slo_init.add_argument("--service", required=True, help="your app's service.name")
    slo_init.add_argument("--out", default="slos.yaml", help="where to write it (default slos.yaml)")
    slo_init.add_argument("--force", action="store_true", help="overwrite an existing file")
    slo_init.set_defaults(func=init)
    slo_status = slo_sub.add_parser("status", help="per SLO: SLI, budget remaining and burn rates from Prometheus")
    slo_status.add_argument("--prometheus", default="http://localhost:9090", help="Prometheus base URL")
    slo_status.add_argument("--service", help="only this service")
    slo_status.set_defaults(func=status)
    slo_check = slo_sub.add_parser(
        "check", help="validate an SLO file (mre/v1, Sloth prometheus/v1, OpenSLO v1); errors name file, line and field"
    )
    slo_check.add_argument("file")
    slo_check.set_defaults(func=check)


def build(args: argparse.Namespace) -> int:
    import mre.processor.scorers  # noqa: F401  (declares the evaluation names SLO files may use)
    from mre.slo_files import load
    from mre.slo_spec import SpecError, load_default, replace_service

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
    from mre.exporters.slo_build import build as build_files

    for path in build_files(spec, Path(args.out)):
        print(f"wrote {path}")
    return 0


def check(args: argparse.Namespace) -> int:
    import mre.processor.scorers  # noqa: F401  (declares the evaluation names SLO files may use)
    from mre.slo_files import load
    from mre.slo_spec import SpecError
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


def init(args: argparse.Namespace) -> int:
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


def status(args: argparse.Namespace) -> int:
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
        table.add_row(s.service, s.slo, pct(s.objective), pct(s.sli), pct(s.budget_remaining), burn, period)
    Console().print(table)
    return 0
