"""The SLO file (``slos.yaml``, version ``mre/v1``): loading with errors that name file, line and field.

    version: mre/v1
    service: policy-assistant
    labels: {team: ml-platform}          # added to every generated rule
    evaluations: [tone]                  # optional: custom scorers registered in-process
    slos:
      - name: faithfulness
        description: Answers whose claims the retrieved context supports
        objective: 99.0                  # percent of answers that must be good, in (0, 100)
        window: 28d                      # the SLO period (6d to 366d; burn factors derive from it)
        labels: {category: grounding}    # optional: added to this SLO's rules
        sli:
          score: {evaluation: faithfulness, threshold: 0.5}    # good when the score >= threshold
          # or: event: unscored_answer   (a kind of mre.slo_events, the README lists them)
        filters: {route: policy-qa}      # optional: route, model
        no_data: 1h                      # alert when this SLO gets no event for this long (`off` disables)
        alerting:
          name: FaithfulnessBudgetBurn
          labels: {team: ml-platform}
          page: {labels: {severity: page}}       # `disable: true` drops it
          ticket: {labels: {severity: ticket}}
          runbook_url: https://runbooks.example.com/faithfulness
          runbook: First steps, as text    # shown as the alert's description

Events are scorers with a fixed rule, each kind registered once in :mod:`mre.slo_events` (a stale
source is ``freshness < 0.5``; an unscored answer ``scoring_coverage < 1``, its text, question or
context not captured).

Unknown keys, evaluations and events are errors with a "did you mean"; a misspelt key is never
silently ignored. Sloth ``prometheus/v1`` and OpenSLO ``openslo/v1`` files load into the same model
(:mod:`mre.slo_formats`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from mre import evaluations, slo_events
from mre.slo import SLO
from mre.slo_windows import period_problem

VERSION = "mre/v1"
FILTER_KEYS = ("route", "model")
DEFAULT_NO_DATA_MINUTES = 60
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_ALERT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WINDOW = re.compile(r"^(\d+)d$")
_DURATION = re.compile(r"^(\d+)([mhd])$")
_URL = re.compile(r"^https?://\S+$")

# The keys each mapping may hold: anything else is a mistake reported with the closest known key.
TOP_KEYS = ("version", "service", "labels", "evaluations", "slos", "calibration")
SLO_KEYS = ("name", "description", "objective", "window", "labels", "sli", "filters", "no_data", "alerting")
SCORE_KEYS = ("evaluation", "threshold")
ALERTING_KEYS = ("name", "labels", "page", "ticket", "runbook", "runbook_url")
ROUTE_KEYS = ("labels", "disable")
CALIBRATION_KEYS = ("min_agreement", "min_verdicts", "window", "stale_after", "disable")

Problem = Callable[[str, str], None]


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
    runbook: str | None = None  # first steps as text: the alert's description
    runbook_url: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)  # extra annotations (Sloth's)


@dataclass(frozen=True)
class ExternalSLI:
    """An SLI over metrics mre does not produce (a Sloth ``events`` SLI, an OpenSLO ratio): the two
    queries, each a rate with ``{{.window}}`` where the window goes. The processor does not evaluate
    it; the rules do."""

    error_query: str
    total_query: str


@dataclass(frozen=True)
class SLOSpec:
    slo: SLO
    filters: Mapping[str, str]
    alerting: AlertRouting
    event: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    external: ExternalSLI | None = None
    no_data_minutes: int | None = DEFAULT_NO_DATA_MINUTES  # None: no dead-SLI alert

    @property
    def evaluated_by_mre(self) -> bool:
        return self.external is None


@dataclass(frozen=True)
class Calibration:
    """When automated scores stop agreeing with people, or people stop checking them."""

    min_agreement: float = 0.8  # share of human verdicts each scorer must agree with over the window
    min_verdicts: int = 30  # fewer verdicts in the window say nothing
    window_days: int = 7
    stale_after_days: int = 14  # no human verdict for this long (or ever) is itself an alert
    enabled: bool = True


@dataclass(frozen=True)
class SLOFile:
    service: str
    labels: Mapping[str, str]
    slos: tuple[SLOSpec, ...]
    source: str
    calibration: Calibration = field(default_factory=Calibration)
    evaluations: tuple[str, ...] = ()  # custom evaluation names the file declared

    @property
    def runtime_slos(self) -> tuple[SLO, ...]:
        """What the processor evaluates for ``mre_slo_events_total``."""
        return tuple(s.slo for s in self.slos if s.evaluated_by_mre)


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
                child = f"{path}.{key}" if path else key
                out[key] = self.convert(value_node, child)
                self.lines[child] = key_node.start_mark.line + 1  # a problem with a key is on its own line
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return yaml.safe_load(yaml.serialize(node))

    def line(self, path: str) -> int:
        while path and path not in self.lines:
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return self.lines.get(path, 1)


@dataclass
class Reader:
    """Problems collected against one source, each with the line of its path."""

    source: str
    located: _Located
    problems: list[str] = field(default_factory=list)

    def __call__(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}:{self.located.line(path)}: {path or '(top level)'}: {message}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise SpecError(self.problems)


def compose(text: str, source: str) -> tuple[Any, Reader]:
    """The YAML document as plain values, and a reader that reports problems at their lines."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise SpecError([f"{source}:{line}: invalid YAML: {getattr(exc, 'problem', exc)}"]) from None
    located = _Located(source)
    data = located.convert(root, "") if root is not None else None
    return data, Reader(source, located)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_keys(raw: Mapping[str, Any], known: tuple[str, ...], path: str, problem: Problem) -> None:
    for key in raw:
        if key not in known:
            where = f"{path}.{key}" if path else key
            problem(where, f"unknown key {key!r}{did_you_mean(key, known)} (known: {', '.join(known)})")


def known_evaluations() -> frozenset[str]:
    """The scorer names the processor's registry declared (:mod:`mre.evaluations`)."""
    known = evaluations.known()
    if not known:
        raise RuntimeError(evaluations.NOT_LOADED)
    return known


def init_text(service: str) -> str:
    """A starting SLO file for ``service``: the shipped defaults, with their comments, for that service."""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", service):
        raise ValueError(f"service {service!r}: letters, digits, '.', '_' and '-' (the service.name your app sets)")
    text = resources.files("mre").joinpath("slos.yaml").read_text("utf-8")
    body = re.sub(r"(?m)^service: .*$", f"service: {service}", text, count=1)
    body = re.sub(r"(?m)^# The shipped default SLOs.*?(?=^version:)", "", body, count=1, flags=re.S)
    header = (
        f"# SLOs for {service}, written by `mre slo init`. Check it with `mre slo check`, build the rules and\n"
        "# dashboards with `mre slo build`, and pass it to `mre serve --slos` (or MRE_SLOS in-process).\n"
        "# Drop the SLOs your service cannot measure (no retrieval: faithfulness and freshness; no ACLs:\n"
        "# permission-leak); each SLO also alerts when it gets no event for its `no_data` time.\n"
    )
    return header + body


def replace_service(file: SLOFile, service: str) -> SLOFile:
    from dataclasses import replace

    return replace(file, service=service)


def load_default() -> SLOFile:
    return parse(resources.files("mre").joinpath("slos.yaml").read_text("utf-8"), "slos.yaml (shipped default)")


def default_slos() -> tuple[SLO, ...]:
    """The SLOs of the shipped ``slos.yaml`` (the one definition of the defaults)."""
    return load_default().runtime_slos


def parse(text: str, source: str) -> SLOFile:
    data, problem = compose(text, source)
    if not isinstance(data, dict):
        raise SpecError([f"{source}:1: (top level): expected a mapping with version, service and slos"])
    check_keys(data, TOP_KEYS, "", problem)
    if data.get("version") != VERSION:
        problem(
            "version", f"must be {VERSION!r}, got {data.get('version')!r} (Sloth prometheus/v1 and openslo/v1 load too)"
        )
    service = data.get("service")
    if not isinstance(service, str) or not service:
        problem("service", "required, a non-empty string")
    labels = labels_of(data.get("labels", {}), "labels", problem)
    custom = data.get("evaluations", [])
    if not isinstance(custom, list) or not all(isinstance(e, str) and e for e in custom):
        problem("evaluations", "a list of custom evaluation (scorer) names")
        custom = []
    evaluations = known_evaluations() | set(custom)
    raw_slos = data.get("slos")
    specs: list[SLOSpec] = []
    if not isinstance(raw_slos, list) or not raw_slos:
        problem("slos", "required, a non-empty list")
        raw_slos = []
    for i, raw in enumerate(raw_slos):
        spec = _slo(raw, f"slos[{i}]", problem, evaluations)
        if spec is not None:
            specs.append(spec)
    check_unique(specs, problem)
    calibration = _calibration(data.get("calibration"), "calibration", problem)
    problem.raise_if_any()
    return SLOFile(str(service), labels, tuple(specs), source, calibration, tuple(custom))


def check_unique(specs: list[SLOSpec], problem: Problem) -> None:
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.slo.name in seen:
            problem(f"slos[{i}].name", f"duplicate SLO name {spec.slo.name!r}")
        seen.add(spec.slo.name)


def _days(raw: Any, path: str, problem: Problem, default: int) -> int:
    if raw is None:
        return default
    match = _WINDOW.match(str(raw))
    if not match or not 1 <= int(match.group(1)) <= 366:
        problem(path, f"a number of days like '7d', got {raw!r}")
        return default
    return int(match.group(1))


def period_days(raw: Any, path: str, problem: Problem) -> int | None:
    """An SLO period: whole days the burn-rate windows can serve (mre.slo_windows)."""
    match = _WINDOW.match(str(raw))
    if not match:
        problem(path, f"a number of days like '28d', got {raw!r}")
        return None
    days = int(match.group(1))
    why = period_problem(days)
    if why is not None:
        problem(path, why)
        return None
    return days


def duration_minutes(raw: Any, path: str, problem: Problem) -> int | None:
    match = _DURATION.match(str(raw))
    if not match or int(match.group(1)) < 1:
        problem(path, f"a duration like '30m', '1h' or '1d', or 'off', got {raw!r}")
        return None
    return int(match.group(1)) * {"m": 1, "h": 60, "d": 1440}[match.group(2)]


def _calibration(raw: Any, path: str, problem: Problem) -> Calibration:
    if raw is None:
        return Calibration()
    if raw is False:
        return Calibration(enabled=False)
    if not isinstance(raw, dict):
        problem(path, "a mapping with min_agreement, min_verdicts, window, stale_after (or `disable: true`)")
        return Calibration()
    check_keys(raw, CALIBRATION_KEYS, path, problem)
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
        enabled=raw.get("disable") is not True,
    )


def labels_of(raw: Any, path: str, problem: Problem) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str | int | float) for v in raw.values()):
        problem(path, "must be a mapping of label names to strings")
        return {}
    for key in raw:
        if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", key):
            problem(f"{path}.{key}", "not a valid Prometheus label name")
    return {str(k): str(v) for k, v in raw.items()}


def objective_of(raw: Any, path: str, problem: Problem) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw < 100:
        problem(path, f"a percentage in (0, 100), got {raw!r}")
        return None
    return round(float(raw) / 100.0, 10)


def slo_name_of(raw: Any, path: str, problem: Problem) -> str | None:
    if not isinstance(raw, str) or not _NAME.match(raw):
        problem(path, "required: lower case letters, digits and dashes, starting with a letter")
        return None
    return raw


def event_rule(
    event: object, path: str, problem: Problem, evaluations: frozenset[str] | set[str]
) -> tuple[str, float] | None:
    """(scorer, threshold) of a registered event kind (:mod:`mre.slo_events`), whose scorer is known."""
    kind = slo_events.get(event) if isinstance(event, str) else None
    if kind is None:
        names = [k.name for k in slo_events.kinds()]
        problem(path, f"one of {', '.join(names)}, got {event!r}{did_you_mean(str(event), names)}")
        return None
    if kind.evaluation not in evaluations:
        problem(path, f"event {event!r} rests on evaluation {kind.evaluation!r}, which no registered scorer provides")
        return None
    return kind.evaluation, kind.threshold


def _sli(
    raw: Any, path: str, problem: Problem, evaluations: frozenset[str] | set[str]
) -> tuple[str, float, str | None] | None:
    """(scorer, threshold, event) of an mre SLI."""
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("score", "event"):
        hint = ""
        if isinstance(raw, dict):
            hint = "".join(did_you_mean(k, ("score", "event")) for k in raw if k not in ("score", "event"))
        problem(path, f"exactly one of 'score: {{evaluation, threshold}}' or 'event: <name>'{hint}")
        return None
    if "event" in raw:
        rule = event_rule(raw["event"], f"{path}.event", problem, evaluations)
        return None if rule is None else (*rule, str(raw["event"]))
    score = raw["score"]
    if not isinstance(score, dict):
        problem(f"{path}.score", "a mapping with evaluation and threshold")
        return None
    check_keys(score, SCORE_KEYS, f"{path}.score", problem)
    evaluation = score.get("evaluation")
    ok = True
    if not isinstance(evaluation, str):
        problem(f"{path}.score.evaluation", "required: the scorer name, e.g. faithfulness")
        ok = False
    elif evaluation not in evaluations:
        problem(
            f"{path}.score.evaluation",
            f"unknown evaluation {evaluation!r}{did_you_mean(evaluation, evaluations)} (a custom scorer must be "
            "declared under `evaluations:`)",
        )
        ok = False
    raw_threshold = score.get("threshold")
    if isinstance(raw_threshold, bool) or not isinstance(raw_threshold, int | float) or not 0 <= raw_threshold <= 1:
        problem(f"{path}.score.threshold", f"a score in [0, 1], got {raw_threshold!r}")
        ok = False
    if not ok:
        return None
    return str(evaluation), float(raw_threshold), None  # type: ignore[arg-type]


def filters_of(raw: Any, path: str, problem: Problem) -> dict[str, str]:
    filters = raw or {}
    if not isinstance(filters, dict) or set(filters) - set(FILTER_KEYS):
        unknown = sorted(set(filters) - set(FILTER_KEYS)) if isinstance(filters, dict) else []
        hint = "".join(did_you_mean(k, FILTER_KEYS) for k in unknown)
        problem(path, f"a mapping with keys among {', '.join(FILTER_KEYS)}{hint}")
        return {}
    return {str(k): str(v) for k, v in filters.items()}


def no_data_of(raw: Any, path: str, problem: Problem) -> int | None:
    if raw is None:
        return DEFAULT_NO_DATA_MINUTES
    if raw is False or raw == "off":
        return None
    return duration_minutes(raw, path, problem)


def _slo(raw: Any, path: str, problem: Problem, evaluations: frozenset[str] | set[str]) -> SLOSpec | None:
    if not isinstance(raw, dict):
        problem(path, "each SLO must be a mapping")
        return None
    check_keys(raw, SLO_KEYS, path, problem)
    name = slo_name_of(raw.get("name"), f"{path}.name", problem)
    objective = objective_of(raw.get("objective"), f"{path}.objective", problem)
    days = period_days(raw.get("window", "28d"), f"{path}.window", problem)
    sli = _sli(raw.get("sli"), f"{path}.sli", problem, evaluations)
    filters = filters_of(raw.get("filters"), f"{path}.filters", problem)
    labels = labels_of(raw.get("labels"), f"{path}.labels", problem)
    no_data = no_data_of(raw.get("no_data"), f"{path}.no_data", problem)
    alerting = alerting_of(raw.get("alerting"), f"{path}.alerting", str(name), problem)
    if name is None or objective is None or days is None or sli is None or alerting is None:
        return None
    scorer, threshold, event = sli
    slo = SLO(name, scorer, threshold, objective, days, str(raw.get("description", "")))
    return SLOSpec(slo, filters, alerting, event, labels, None, no_data)


def default_alert_name(slo_name: str) -> str:
    return "".join(part.capitalize() for part in slo_name.split("-")) + "BudgetBurn"


def routes_of(
    raw: Mapping[str, Any], path: str, keys: Mapping[str, str], known: tuple[str, ...], problem: Problem
) -> dict[str, Mapping[str, str] | None] | None:
    """Per severity (page, ticket; ``keys`` names their YAML key) the alert's labels, or ``None``
    when that alert is disabled; ``None`` for all when one is not a mapping."""
    routes: dict[str, Mapping[str, str] | None] = {}
    for severity, key in keys.items():
        value = raw.get(key) or {}
        if not isinstance(value, dict):
            problem(f"{path}.{key}", "a mapping with 'labels' or 'disable: true'")
            return None
        check_keys(value, known, f"{path}.{key}", problem)
        labels = labels_of(value.get("labels"), f"{path}.{key}.labels", problem)
        routes[severity] = None if value.get("disable") is True else {"severity": severity, **labels}
    return routes


def alerting_of(raw: Any, path: str, slo_name: str, problem: Problem) -> AlertRouting | None:
    if raw is None:
        return AlertRouting(name=default_alert_name(slo_name))
    if not isinstance(raw, dict):
        problem(path, "must be a mapping")
        return None
    check_keys(raw, ALERTING_KEYS, path, problem)
    name = raw.get("name", default_alert_name(slo_name))
    if not isinstance(name, str) or not _ALERT_NAME.match(name):
        problem(f"{path}.name", "a Prometheus alert name (letters, digits, underscores)")
        return None
    routes = routes_of(raw, path, {"page": "page", "ticket": "ticket"}, ROUTE_KEYS, problem)
    if routes is None:
        return None
    runbook, url = raw.get("runbook"), raw.get("runbook_url")
    if runbook is not None and not isinstance(runbook, str):
        problem(f"{path}.runbook", "the first steps, as text")
        runbook = None
    if url is not None and (not isinstance(url, str) or not _URL.match(url)):
        problem(f"{path}.runbook_url", f"an http(s) URL, got {url!r}")
        url = None
    if url is None and isinstance(runbook, str) and _URL.match(runbook.strip()):
        url = runbook.strip()  # the old key holding a link: it is the runbook_url
        runbook = None
    return AlertRouting(
        name=name,
        labels=labels_of(raw.get("labels"), f"{path}.labels", problem),
        page_labels=routes["page"],
        ticket_labels=routes["ticket"],
        runbook=runbook,
        runbook_url=url,
    )
