"""`mre eval`: scores a JSONL file, measures scorers against labels, reports malformed lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mre.processor.offline import InvalidLine, evaluate, read_examples
from mre.processor.stats import auroc

DATA = Path(os.environ.get("MRE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
HALUEVAL = DATA / "halueval_qa_dev.jsonl"
CONTEXT = "Customers may request a refund within 30 days of delivery, except for customized items."


def line(answer: str, faithful: bool | None = None) -> str:
    record: dict[str, object] = {
        "question": "How long do customers have to request a refund?",
        "contexts": [CONTEXT],
        "answer": answer,
    }
    if faithful is not None:
        record["faithful"] = faithful
    return json.dumps(record)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mre", "eval", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "COLUMNS": "140"},
    )


def test_auroc_counts_ties_as_half() -> None:
    assert auroc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([0.1, 0.2], [True, True]) is None


def test_a_malformed_line_is_an_error_with_its_line_number() -> None:
    with pytest.raises(InvalidLine, match="line 2: 'contexts' must be a list of strings"):
        read_examples([line("30 days."), json.dumps({"question": "q", "contexts": "c", "answer": "a"})])
    with pytest.raises(InvalidLine, match="line 3: invalid JSON"):
        read_examples([line("a"), "", "{oops"])


def test_malformed_lines_are_skipped_only_when_asked() -> None:
    examples, skipped = read_examples([line("30 days."), "{oops", line("45 days.")], skip_invalid=True)
    assert [e.line for e in examples] == [1, 3]
    assert [s.line for s in skipped] == [2]


def test_labels_give_auroc_precision_recall_and_f1_per_scorer() -> None:
    examples, _ = read_examples(
        [
            line("Customers may request a refund within 30 days of delivery, except for customized items.", True),
            line("Customers may request a refund within 90 days of delivery, except for customized items.", False),
            line("Customers can get a refund within 30 days of delivery, except for customized items.", True),
            line("Refunds are always granted, even for customized items, within a year.", False),
        ]
    )
    report = evaluate(examples)
    f = report.scorers["faithfulness"]
    assert f.auroc == 1.0 and f.n_scored == 4
    # At the SLO threshold (P(faithful) 0.35) the paraphrase (0.47: "can get" is not in the context)
    # still counts as faithful; the changed number and the dropped carve-out do not.
    assert (f.threshold, f.precision, f.recall) == (0.35, 1.0, 1.0)
    assert report.to_json()["scorers"]["faithfulness"]["auroc"] == 1.0


def test_a_scorer_that_raises_costs_only_its_own_scores_and_is_counted() -> None:
    from mre.processor.scorers import default_scorers

    def broken(interaction: object) -> None:
        raise RuntimeError("boom")

    examples, _ = read_examples([line("Refunds within 30 days.", True), line("Refunds within 90 days.", False)])
    report = evaluate(examples, {**default_scorers(), "broken": broken})  # type: ignore[dict-item]
    assert report.scorers["broken"].errors == 2 and report.scorers["broken"].n_scored == 0
    assert report.scorers["faithfulness"].n_scored == 2 and report.scorers["faithfulness"].errors == 0
    assert report.to_json()["scorers"]["broken"]["errors"] == 2


def test_the_cli_writes_json_and_a_self_contained_html_report(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(
        "\n".join(
            [line("Customers have 30 days, except for customized items.", True), line("Customers have 90 days.", False)]
        )
        + "\n"
    )
    result = run_cli(str(data), "--json", "out.json", "--html", "out.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "faithfulness" in result.stdout
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["n"] == 2 and report["scorers"]["faithfulness"]["auroc"] == 1.0
    html = (tmp_path / "out.html").read_text()
    assert "<svg" in html and "AUROC" in html and "Customers have 90 days." in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")


def test_the_cli_reports_a_malformed_line_and_exits_non_zero(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(line("a") + "\n[1, 2]\n")
    result = run_cli(str(data), cwd=tmp_path)
    assert result.returncode == 2
    assert "line 2: expected a JSON object" in result.stderr


@pytest.mark.skipif(not HALUEVAL.exists(), reason="shared/data is not beside the checkout")
def test_faithfulness_separates_halueval_without_leaning_on_length() -> None:
    """Goal from the scorers issue: AUROC >= 0.80 for the offline default; the same on length-matched
    "The answer is X." forms of every answer (HaluEval's hallucinated answers are much longer)."""
    lines = HALUEVAL.read_text().splitlines()
    report = evaluate(read_examples(lines)[0], thresholds={})
    assert report.scorers["faithfulness"].auroc is not None and report.scorers["faithfulness"].auroc >= 0.80
    matched = []
    for text in lines:
        record = json.loads(text)
        record["answer"] = f"The answer is {record['answer'].rstrip('.')}."
        matched.append(json.dumps(record))
    matched_report = evaluate(read_examples(matched)[0])
    assert matched_report.scorers["faithfulness"].auroc is not None
    assert matched_report.scorers["faithfulness"].auroc >= 0.80


def test_the_gate_passes_an_equal_run_and_fails_a_regressed_one(tmp_path: Path) -> None:
    good = "Customers may request a refund within 30 days of delivery, except for customized items."
    bad = "Customers may request a refund within 90 days of delivery."
    (tmp_path / "a.jsonl").write_text("\n".join(line(good) for _ in range(40)) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(line(good if i % 2 else bad) for i in range(40)) + "\n")
    same = subprocess.run(
        [sys.executable, "-m", "mre", "eval", "--baseline", "a.jsonl", "--candidate", "a.jsonl"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert same.returncode == 0, same.stdout + same.stderr
    worse = subprocess.run(
        [sys.executable, "-m", "mre", "eval", "--baseline", "a.jsonl", "--candidate", "b.jsonl", "--json", "gate.json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert worse.returncode == 1, worse.stdout + worse.stderr
    report = json.loads((tmp_path / "gate.json").read_text())
    assert report["regression"] and report["scorers"]["faithfulness"]["regression"]
    assert report["scorers"]["faithfulness"]["high"] < 0


def test_the_gate_warns_when_the_two_runs_were_asked_different_questions(tmp_path: Path) -> None:
    """Comparing a model on refund questions with another on travel questions says little about the
    models: the gate says so (and still gives its per-scorer verdict)."""
    from mre.examples.corpus import load_corpus

    corpus = load_corpus()
    context = "Customers may request a refund within 30 days of delivery, except for customized items."

    def run(questions: list[str]) -> str:
        rows = [{"question": q, "contexts": [context], "answer": context} for q in questions]
        return "\n".join(json.dumps(r) for r in rows) + "\n"

    refunds = [q for q in corpus.questions if "refund" in q.lower()]
    others = [q for q in corpus.questions if "refund" not in q.lower()]
    (tmp_path / "a.jsonl").write_text(run((refunds * 20)[:40]))
    (tmp_path / "b.jsonl").write_text(run((others * 2)[:40]))
    (tmp_path / "c.jsonl").write_text(run((refunds * 20)[1:41]))
    for candidate, differ in (("b.jsonl", True), ("c.jsonl", False)):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mre",
                "eval",
                "--baseline",
                "a.jsonl",
                "--candidate",
                candidate,
                "--json",
                "g.json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert result.returncode in (0, 1), result.stderr
        assert ("asked different questions" in result.stdout) is differ, result.stdout
        assert json.loads((tmp_path / "g.json").read_text())["questions"]["differ"] is differ
