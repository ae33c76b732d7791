"""Table cells and tables the subcommands share."""

from __future__ import annotations

from typing import Any


def num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def pct(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


def drift_table(rows: list[dict[str, Any]]) -> Any:
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
