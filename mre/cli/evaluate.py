"""`mre eval`: score a JSONL file and measure the scorers on its labels; with --baseline and
--candidate, the regression gate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mre.cli._judges import add_judge_options, judged_faithfulness
from mre.cli._render import num, pct


def add_parser(sub: Any) -> None:
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
    add_judge_options(evaluate)
    evaluate.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    if args.baseline or args.candidate:
        if not (args.baseline and args.candidate) or args.file:
            print("mre eval: the gate takes --baseline and --candidate (and no FILE)", file=sys.stderr)
            return 2
        return gate_command(args)
    if not args.file:
        print("mre eval: give a FILE, or --baseline and --candidate", file=sys.stderr)
        return 2

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from mre.processor.baselines import BASELINES
    from mre.processor.offline import evaluate
    from mre.processor.scorers import default_scorers

    BASELINE_NAMES = tuple(BASELINES)
    err, out = Console(stderr=True), Console()
    path = Path(args.file)
    read = _read(path, args.skip_invalid)
    if read is None:
        return 2
    examples, skipped = read
    if not examples:
        print(
            f"mre eval: {path}: no valid example to score" + (f" ({len(skipped)} invalid)" if skipped else ""),
            file=sys.stderr,
        )
        return 2
    for problem in skipped:
        err.print(f"mre eval: skipped {path}: {problem}")
    scorers = default_scorers()
    judged = judged_faithfulness(args)
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
    for r in report.scorers.values():
        if r.errors:  # counted, never silent: the rows it raised on are not scored by it
            err.print(f"mre eval: scorer {r.name} raised on {r.errors} of {report.n} rows (each logged)")
    table = Table(title=f"{path.name}: {report.n} interactions, {report.n_labeled} labeled")
    table.add_column("scorer", no_wrap=True)
    for column in ("scored", "mean", "AUROC", "AUROC*", "ECE", "thr", "precision", "recall", "F1"):
        table.add_column(column, justify="right")
    for r in report.scorers.values():
        table.add_row(
            r.name,
            str(r.n_scored),
            num(r.mean),
            num(r.auroc),
            num(r.length_matched_auroc),
            num(r.ece),
            f"{r.threshold:g}",
            pct(r.precision),
            pct(r.recall),
            pct(r.f1),
        )
    for name in BASELINE_NAMES:
        if name in report.baselines:  # beside the scorers: a scorer below these adds nothing
            table.add_row(
                f"[dim]baseline: {name}[/dim]",
                "",
                "",
                num(report.baselines[name]),
                num(report.baselines_length_matched.get(name)),
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
                *(num(g.auroc.get(n)) for n in names),
                *(num(g.baselines.get(b)) for b in BASELINE_NAMES),
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


def gate_command(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from mre.processor.gate import QUESTION_ALPHA, gate, question_mix
    from mre.processor.offline import evaluate

    runs = {}
    questions: dict[str, list[str]] = {}
    for label in ("baseline", "candidate"):
        path = Path(getattr(args, label))
        read = _read(path, args.skip_invalid)
        if read is None:
            return 2
        examples, _ = read
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


def _read(path: Path, skip_invalid: bool) -> tuple[list[Any], list[Any]] | None:
    """The file's examples and skipped lines, or None once the reason it cannot be read is printed."""
    from mre.processor.offline import InvalidLine, read_examples

    try:
        with path.open(encoding="utf-8") as handle:
            examples, skipped = read_examples(handle, skip_invalid=skip_invalid)
    except OSError as exc:
        print(f"mre eval: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return None
    except UnicodeDecodeError as exc:
        print(f"mre eval: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return None
    except InvalidLine as exc:
        print(f"mre eval: {path}: {exc} (pass --skip-invalid to skip such lines)", file=sys.stderr)
        return None
    return list(examples), list(skipped)
