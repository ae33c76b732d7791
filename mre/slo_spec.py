"""The SLO file (``slos.yaml``, version ``mre/v1``): loading with errors that name file, line and field.

    version: mre/v1
    service: policy-assistant
    labels: {team: ml-platform}          # added to every generated rule
    slos:
      - name: faithfulness
        description: Answers whose claims the retrieved context supports
        objective: 99.0                  # percent of answers that must be good, in (0, 100)
        window: 28d                      # the SLO period
        sli:
          score: {evaluation: faithfulness, threshold: 0.85}   # good when the score >= threshold
          # or: event: guardrail_violation | wrong_abstention | stale_source | permission_leak
          #     | unscored_answer
        filters: {route: policy-qa}      # optional: route, model
        alerting:
          name: FaithfulnessBudgetBurn
          labels: {team: ml-platform}
          page: {labels: {severity: page}}       # `disable: true` drops it
          ticket: {labels: {severity: ticket}}
          runbook: https://runbooks.example.com/faithfulness

Events are scorers with a fixed rule: a guardrail violation is ``safety < 1``, a wrong abstention
``abstention < 1``, a stale source ``freshness < 0.5``, a permission leak ``permission_leak < 0.5``,
an unscored answer ``scoring_coverage < 1`` (its text, question or context was not captured).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mre.slo import SLO

VERSION = "mre/v1"
EVENTS: Mapping[str, tuple[str, float]] = {
    "guardrail_violation": ("safety", 1.0),
    "wrong_abstention": ("abstention", 1.0),
    "stale_source": ("freshness", 0.5),
    "permission_leak": ("permission_leak", 0.5),
    # An answer that could not be fully scored (mre.processor.coverage): a bad event of its own SLO.
    "unscored_answer": ("scoring_coverage", 1.0),
}
FILTER_KEYS = ("route", "model")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_ALERT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WINDOW = re.compile(r"^(\d+)d$")


class SpecError(ValueError):
    """Every problem of the file, each as ``file:line: field: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class AlertRouting:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    page_labels: Mapping[str, str] | None = field(default_factory=lambda: {"severity": "page"})
    ticket_labels: Mapping[str, str] | None = field(default_factory=lambda: {"severity": "ticket"})
    runbook: str | None = None


@dataclass(frozen=True)
class SLOSpec:
    slo: SLO
    filters: Mapping[str, str]
    alerting: AlertRouting
    event: str | None = None


@dataclass(frozen=True)
class Calibration:
    """When automated scores stop agreeing with people, or people stop checking them."""

    min_agreement: float = 0.8  # share of human verdicts each scorer must agree with over the window
    min_verdicts: int = 30  # fewer verdicts in the window say nothing
    window_days: int = 7
    stale_after_days: int = 14  # no human verdict for this long is itself an alert


@dataclass(frozen=True)
class SLOFile:
    service: str
    labels: Mapping[str, str]
    slos: tuple[SLOSpec, ...]
    source: str
    calibration: Calibration = field(default_factory=Calibration)

    @property
    def runtime_slos(self) -> tuple[SLO, ...]:
        """What the processor evaluates for ``mre_slo_events_total``."""
        return tuple(s.slo for s in self.slos)


class _Located:
    """Plain Python values from a YAML node tree, remembering the line of every path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[str, int] = {}

    def convert(self, node: yaml.Node, path: str) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                out[key] = self.convert(value_node, f"{path}.{key}" if path else key)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return yaml.safe_load(yaml.serialize(node))

    def line(self, path: str) -> int:
        while path and path not in self.lines:
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return self.lines.get(path, 1)


def load(path: str | Path) -> SLOFile:
    text = Path(path).read_text(encoding="utf-8")
    return parse(text, str(path))


def load_default() -> SLOFile:
    return parse(resources.files("mre").joinpath("slos.yaml").read_text("utf-8"), "slos.yaml (shipped default)")


def parse(text: str, source: str) -> SLOFile:
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise SpecError([f"{source}:{line}: invalid YAML: {getattr(exc, 'problem', exc)}"]) from None
    located = _Located(source)
    data = located.convert(root, "") if root is not None else None
    problems: list[str] = []

    def problem(path: str, message: str) -> None:
        problems.append(f"{source}:{located.line(path)}: {path or '(top level)'}: {message}")

    if not isinstance(data, dict):
        raise SpecError([f"{source}:1: (top level): expected a mapping with version, service and slos"])
    if data.get("version") != VERSION:
        problem("version", f"must be {VERSION!r}, got {data.get('version')!r}")
    service = data.get("service")
    if not isinstance(service, str) or not service:
        problem("service", "required, a non-empty string")
    labels = _labels(data.get("labels", {}), "labels", problem)
    raw_slos = data.get("slos")
    specs: list[SLOSpec] = []
    if not isinstance(raw_slos, list) or not raw_slos:
        problem("slos", "required, a non-empty list")
        raw_slos = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_slos):
        spec = _slo(raw, f"slos[{i}]", problem)
        if spec is None:
            continue
        if spec.slo.name in seen:
            problem(f"slos[{i}].name", f"duplicate SLO name {spec.slo.name!r}")
        seen.add(spec.slo.name)
        specs.append(spec)
    calibration = _calibration(data.get("calibration"), "calibration", problem)
    if problems:
        raise SpecError(problems)
    return SLOFile(str(service), labels, tuple(specs), source, calibration)


def _days(raw: Any, path: str, problem: Any, default: int) -> int:
    if raw is None:
        return default
    match = _WINDOW.match(str(raw))
    if not match or not 1 <= int(match.group(1)) <= 366:
        problem(path, f"a number of days like '7d', got {raw!r}")
        return default
    return int(match.group(1))


def _calibration(raw: Any, path: str, problem: Any) -> Calibration:
    if raw is None:
        return Calibration()
    if not isinstance(raw, dict):
        problem(path, "a mapping with min_agreement, min_verdicts, window, stale_after")
        return Calibration()
    unknown = set(raw) - {"min_agreement", "min_verdicts", "window", "stale_after"}
    if unknown:
        problem(path, f"unknown keys {sorted(unknown)}; known: min_agreement, min_verdicts, window, stale_after")
    default = Calibration()
    agreement = raw.get("min_agreement", default.min_agreement * 100)
    if isinstance(agreement, bool) or not isinstance(agreement, int | float) or not 0 < agreement < 100:
        problem(f"{path}.min_agreement", f"a percentage in (0, 100), got {agreement!r}")
        agreement = default.min_agreement * 100
    verdicts = raw.get("min_verdicts", default.min_verdicts)
    if isinstance(verdicts, bool) or not isinstance(verdicts, int) or verdicts < 1:
        problem(f"{path}.min_verdicts", f"a positive whole number, got {verdicts!r}")
        verdicts = default.min_verdicts
    return Calibration(
        min_agreement=round(float(agreement) / 100.0, 10),
        min_verdicts=verdicts,
        window_days=_days(raw.get("window"), f"{path}.window", problem, default.window_days),
        stale_after_days=_days(raw.get("stale_after"), f"{path}.stale_after", problem, default.stale_after_days),
    )


def _labels(raw: Any, path: str, problem: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str | int | float) for v in raw.values()):
        problem(path, "must be a mapping of label names to strings")
        return {}
    for key in raw:
        if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", key):
            problem(f"{path}.{key}", "not a valid Prometheus label name")
    return {str(k): str(v) for k, v in raw.items()}


def _slo(raw: Any, path: str, problem: Any) -> SLOSpec | None:
    if not isinstance(raw, dict):
        problem(path, "each SLO must be a mapping")
        return None
    ok = True
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problem(f"{path}.name", "required: lower case letters, digits and dashes, starting with a letter")
        ok = False
    objective = raw.get("objective")
    if isinstance(objective, bool) or not isinstance(objective, int | float) or not 0 < objective < 100:
        problem(f"{path}.objective", f"a percentage in (0, 100), got {objective!r}")
        ok = False
    window = raw.get("window", "28d")
    match = _WINDOW.match(str(window))
    if not match or not 1 <= int(match.group(1)) <= 366:
        problem(f"{path}.window", f"a number of days like '28d', got {window!r}")
        ok = False
    sli = raw.get("sli")
    scorer, threshold, event = None, None, None
    if not isinstance(sli, dict) or len(sli) != 1 or next(iter(sli)) not in ("score", "event"):
        problem(f"{path}.sli", "exactly one of 'score: {evaluation, threshold}' or 'event: <name>'")
        ok = False
    elif "score" in sli:
        score = sli["score"]
        if not isinstance(score, dict) or not isinstance(score.get("evaluation"), str):
            problem(f"{path}.sli.score.evaluation", "required: the scorer name, e.g. faithfulness")
            ok = False
        else:
            scorer = score["evaluation"]
        threshold = score.get("threshold") if isinstance(score, dict) else None
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            problem(f"{path}.sli.score.threshold", f"a score in [0, 1], got {threshold!r}")
            ok = False
    else:
        event = sli["event"]
        if event not in EVENTS:
            problem(f"{path}.sli.event", f"one of {', '.join(EVENTS)}, got {event!r}")
            ok = False
        else:
            scorer, threshold = EVENTS[event]
    filters = raw.get("filters") or {}
    if not isinstance(filters, dict) or set(filters) - set(FILTER_KEYS):
        problem(f"{path}.filters", f"a mapping with keys among {', '.join(FILTER_KEYS)}")
        filters = {}
    alerting = _alerting(raw.get("alerting"), f"{path}.alerting", str(name), problem)
    if not ok or alerting is None or scorer is None or threshold is None or match is None:
        return None
    slo = SLO(
        name=str(name),
        scorer=scorer,
        threshold=float(threshold),
        objective=round(float(objective) / 100.0, 10),  # type: ignore[arg-type]
        window_days=int(match.group(1)),
        description=str(raw.get("description", "")),
    )
    return SLOSpec(slo, {str(k): str(v) for k, v in filters.items()}, alerting, event)


def _alerting(raw: Any, path: str, slo_name: str, problem: Any) -> AlertRouting | None:
    default_name = "".join(part.capitalize() for part in slo_name.split("-")) + "BudgetBurn"
    if raw is None:
        return AlertRouting(name=default_name)
    if not isinstance(raw, dict):
        problem(path, "must be a mapping")
        return None
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not _ALERT_NAME.match(name):
        problem(f"{path}.name", "a Prometheus alert name (letters, digits, underscores)")
        return None
    routes: dict[str, Mapping[str, str] | None] = {}
    for kind, default in (("page", {"severity": "page"}), ("ticket", {"severity": "ticket"})):
        value = raw.get(kind, {})
        if not isinstance(value, dict):
            problem(f"{path}.{kind}", "a mapping with 'labels' or 'disable: true'")
            return None
        routes[kind] = (
            None
            if value.get("disable") is True
            else {**default, **_labels(value.get("labels"), f"{path}.{kind}.labels", problem)}
        )
    runbook = raw.get("runbook")
    if runbook is not None and not isinstance(runbook, str):
        problem(f"{path}.runbook", "a URL or text")
    return AlertRouting(
        name=name,
        labels=_labels(raw.get("labels"), f"{path}.labels", problem),
        page_labels=routes["page"],
        ticket_labels=routes["ticket"],
        runbook=runbook if isinstance(runbook, str) else None,
    )
