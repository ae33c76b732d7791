"""Offline evaluation (`mre eval`): score a JSONL file of interactions and, with labels, measure the
scorers (AUROC, precision, recall, F1).

One JSON object a line: ``question`` (str), ``contexts`` (list of str), ``answer`` (str), optional
``faithful`` (bool: the answer is supported by the contexts), ``model`` (str) and ``source`` (str: the
data set or slice a row comes from; figures are also given per source). A malformed line is an error
naming its line number; it is skipped only when the caller asks.

Every scorer is reported beside the baselines of :mod:`mre.processor.baselines` (unsupported words,
answer length), overall and per source, and with its calibration (the score read as P(faithful):
reliability bins and expected calibration error), so a scorer that falls below word overlap, or whose
0.7 does not mean 70 %, is visible.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mre.model import Document, Interaction, Retrieval, Score
from mre.processor.baselines import BASELINES, tokens
from mre.processor.pipeline import ScoringPipeline
from mre.processor.scorers import Scorer, default_scorers
from mre.processor.stats import ReliabilityBin, auroc, classify, length_matched_auroc, reliability
from mre.slo_spec import default_slos


class InvalidLine(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class Example:
    line: int
    interaction: Interaction
    faithful: bool | None
    source: str | None = None


def parse_line(text: str, line: int) -> Example:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidLine(line, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise InvalidLine(line, f"expected a JSON object, got {type(record).__name__}")
    question, contexts, answer = record.get("question"), record.get("contexts"), record.get("answer")
    if not isinstance(question, str):
        raise InvalidLine(line, "'question' must be a string")
    if not isinstance(answer, str):
        raise InvalidLine(line, "'answer' must be a string")
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        raise InvalidLine(line, "'contexts' must be a list of strings")
    faithful = record.get("faithful")
    if faithful is not None and not isinstance(faithful, bool):
        raise InvalidLine(line, "'faithful' must be true or false")
    model = record.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidLine(line, "'model' must be a string")
    source = record.get("source")
    if source is not None and not isinstance(source, str):
        raise InvalidLine(line, "'source' must be a string")
    documents = tuple(Document(id=f"ctx-{i}", content=c, rank=i) for i, c in enumerate(contexts))
    interaction = Interaction(
        trace_id=f"{line:032x}",
        span_id=f"{line:016x}",
        dialect="jsonl",
        model=model,
        question=question,
        answer=answer,
        retrievals=(Retrieval(span_id=f"{line:016x}", query=question, documents=documents),),
    )
    return Example(line, interaction, faithful, source)


def read_examples(lines: Iterable[str], *, skip_invalid: bool = False) -> tuple[list[Example], list[InvalidLine]]:
    examples: list[Example] = []
    skipped: list[InvalidLine] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            examples.append(parse_line(text, number))
        except InvalidLine as exc:
            if not skip_invalid:
                raise
            skipped.append(exc)
    return examples, skipped


@dataclass
class ScorerReport:
    name: str
    n_scored: int
    mean: float | None
    threshold: float
    auroc: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    labels: dict[str, int] = field(default_factory=dict)
    ece: float | None = None  # expected calibration error of the value read as P(faithful)
    length_matched_auroc: float | None = None  # over pairs of answers about as long as each other
    reliability: list[ReliabilityBin] = field(default_factory=list)
    errors: int = 0  # rows on which the scorer raised (logged; those rows are not scored by it)


@dataclass
class GroupReport:
    """AUROC of every scorer and baseline on one slice of the rows (a ``source``)."""

    n: int
    n_labeled: int
    auroc: dict[str, float | None]
    baselines: dict[str, float | None]


@dataclass
class EvalReport:
    n: int
    n_labeled: int
    scorers: dict[str, ScorerReport]
    baselines: dict[str, float | None]
    skipped: list[str]
    scored: list[tuple[Example, dict[str, Score]]] = field(repr=False, default_factory=list)
    by_source: dict[str, GroupReport] = field(default_factory=dict)
    baselines_length_matched: dict[str, float | None] = field(default_factory=dict)
    length_matched_pairs: int = 0  # (faithful, unfaithful) pairs of answers in the same length stratum

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "n_labeled": self.n_labeled,
            "scorers": {
                name: {
                    "n_scored": r.n_scored,
                    "errors": r.errors,
                    "mean": r.mean,
                    "threshold": r.threshold,
                    "auroc": r.auroc,
                    "precision": r.precision,
                    "recall": r.recall,
                    "f1": r.f1,
                    "labels": r.labels,
                    "ece": r.ece,
                    "length_matched_auroc": r.length_matched_auroc,
                    "reliability": [
                        {
                            "low": b.low,
                            "high": b.high,
                            "n": b.count,
                            "predicted": b.mean_predicted,
                            "observed": b.observed,
                        }
                        for b in r.reliability
                    ],
                }
                for name, r in self.scorers.items()
            },
            "baselines": self.baselines,
            "baselines_length_matched": self.baselines_length_matched,
            "length_matched_pairs": self.length_matched_pairs,
            "by_source": {
                source: {"n": g.n, "n_labeled": g.n_labeled, "auroc": g.auroc, "baselines": g.baselines}
                for source, g in self.by_source.items()
            },
            "skipped_lines": self.skipped,
        }


def thresholds_from_slos() -> dict[str, float]:
    return {slo.scorer: slo.threshold for slo in default_slos()}


def evaluate(
    examples: list[Example],
    scorers: Mapping[str, Scorer] | None = None,
    thresholds: Mapping[str, float] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    skipped: list[InvalidLine] | None = None,
) -> EvalReport:
    """Score every example; with labels, AUROC (``faithful=true`` positive, higher = more faithful)
    and precision/recall/F1 of "faithful" predicted as score >= threshold."""
    thresholds = {**thresholds_from_slos(), **(thresholds or {})}
    scorers = scorers if scorers is not None else default_scorers()
    # As the service scores: a scorer that reads another (calibration, faithfulness) reads the one
    # reported here, judged or not.
    pipeline = ScoringPipeline(scorers, slos=())
    scored: list[tuple[Example, dict[str, Score]]] = []
    for i, example in enumerate(examples):
        scored.append((example, pipeline.scores_of(example.interaction)))
        if on_progress and (i + 1) % 50 == 0:
            on_progress(i + 1, len(examples))
    if on_progress:
        on_progress(len(examples), len(examples))
    labeled = [(e, s) for e, s in scored if e.faithful is not None]
    reports: dict[str, ScorerReport] = {}
    for name in scorers:
        values = [s[name].value for _, s in scored if name in s]
        labels: dict[str, int] = {}
        for _, s in scored:
            if name in s:
                labels[s[name].label] = labels.get(s[name].label, 0) + 1
        report = ScorerReport(
            name=name,
            n_scored=len(values),
            mean=sum(values) / len(values) if values else None,
            threshold=thresholds.get(name, 0.5),
            labels=labels,
            errors=pipeline.stats.scorer_errors.get(name, 0),
        )
        pairs = [(s[name].value, bool(e.faithful)) for e, s in labeled if name in s]
        if pairs:
            report.auroc = auroc([p[0] for p in pairs], [p[1] for p in pairs])
            c = classify([p[0] for p in pairs], [p[1] for p in pairs], report.threshold)
            report.precision, report.recall, report.f1 = c.precision, c.recall, c.f1
        reports[name] = report
    for name, report in reports.items():
        pairs = [(s[name].value, bool(e.faithful)) for e, s in labeled if name in s]
        if pairs:
            report.reliability, report.ece = reliability([p[0] for p in pairs], [p[1] for p in pairs])
            scored_rows = [(e, s[name].value) for e, s in labeled if name in s]
            report.length_matched_auroc, _ = length_matched_auroc(
                [v for _, v in scored_rows],
                [bool(e.faithful) for e, _ in scored_rows],
                [_answer_length(e) for e, _ in scored_rows],
            )
    truth = [bool(e.faithful) for e, _ in labeled]
    lengths = [_answer_length(e) for e, _ in labeled]
    matched_baselines: dict[str, float | None] = {}
    matched_pairs = 0
    if labeled:
        for name, baseline in BASELINES.items():
            values = [baseline(e.interaction) for e, _ in labeled]
            matched_baselines[name], matched_pairs = length_matched_auroc(values, truth, lengths)
    baselines = _baselines(labeled)
    if "answer_length" in baselines:
        baselines["answer_length_auroc"] = baselines["answer_length"]  # the key earlier reports used
    by_source: dict[str, GroupReport] = {}
    for source in sorted({e.source for e, _ in scored if e.source is not None}):
        rows = [(e, s) for e, s in scored if e.source == source]
        rows_labeled = [(e, s) for e, s in rows if e.faithful is not None]
        by_source[source] = GroupReport(
            n=len(rows),
            n_labeled=len(rows_labeled),
            auroc={name: _auroc(rows_labeled, name) for name in scorers},
            baselines=_baselines(rows_labeled),
        )
    return EvalReport(
        n=len(examples),
        n_labeled=len(labeled),
        scorers=reports,
        baselines=baselines,
        skipped=[str(s) for s in skipped or []],
        scored=scored,
        by_source=by_source,
        baselines_length_matched=matched_baselines,
        length_matched_pairs=matched_pairs,
    )


def _answer_length(example: Example) -> int:
    return len(tokens(example.interaction.answer or ""))


def _auroc(labeled: list[tuple[Example, dict[str, Score]]], name: str) -> float | None:
    pairs = [(s[name].value, bool(e.faithful)) for e, s in labeled if name in s]
    return auroc([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else None


def _baselines(labeled: list[tuple[Example, dict[str, Score]]]) -> dict[str, float | None]:
    """AUROC of each baseline on the labelled rows (none without labels)."""
    if not labeled:
        return {}
    truth = [bool(e.faithful) for e, _ in labeled]
    return {name: auroc([baseline(e.interaction) for e, _ in labeled], truth) for name, baseline in BASELINES.items()}
