"""SLO files people already have, read into the same model as ``mre/v1`` (:mod:`mre.slo_spec`).

**Sloth** ``prometheus/v1`` (slok/sloth ``pkg/prometheus/api/v1``): ``service``, ``labels``, ``slos[]``
with ``name``, ``objective`` (percent), ``description``, ``labels``, ``sli`` and ``alerting`` (``name``,
``labels``, ``annotations``, ``page_alert``/``ticket_alert`` with ``labels`` or ``disable``). The SLI is
one of

- ``plugin: {id: mre/score/v1, options: {evaluation, threshold[, route, model]}}`` or
  ``plugin: {id: mre/event/v1, options: {event[, route, model]}}``: an SLI mre evaluates, exactly
  what the same SLO in ``mre/v1`` says (Sloth's SLI plugins are how Sloth takes SLIs it does not
  know; plugin options are strings there);
- ``events: {error_query, total_query}`` with ``{{.window}}``: any Prometheus SLI, built into the
  same rules (the processor does not evaluate it).

Sloth has no period per SLO; ``--default-slo-period`` is 30 days there and here.

**OpenSLO** ``openslo/v1`` (one or more YAML documents): ``kind: SLO`` with ``spec.service``,
``timeWindow: [{duration: 28d, isRolling: true}]``, ``budgetingMethod: Occurrences``, one objective
(``target`` or ``targetPercent``) and an ``indicator`` inline or by ``indicatorRef`` to a ``kind: SLI``
whose ``ratioMetric`` has ``good`` or ``bad`` and ``total``, each ``metricSource.spec.query``. An SLO
mre evaluates carries its SLI in annotations (``mre.dev/evaluation`` + ``mre.dev/threshold``, or
``mre.dev/event``; ``mre.dev/route``, ``mre.dev/model``, ``mre.dev/alert-name``,
``mre.dev/runbook-url``, ``mre.dev/no-data``, ``mre.dev/page: off``, ``mre.dev/ticket: off``)
beside queries other OpenSLO tools read; ``mre slo build --format openslo`` writes exactly that.
Other kinds (Service, DataSource, AlertPolicy...) are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from mre.slo import SLO
from mre.slo_spec import (
    DEFAULT_NO_DATA_MINUTES,
    FILTER_KEYS,
    AlertRouting,
    Calibration,
    ExternalSLI,
    Problem,
    Reader,
    SLOFile,
    SLOSpec,
    SpecError,
    _Located,
    check_keys,
    check_unique,
    compose,
    default_alert_name,
    did_you_mean,
    duration_minutes,
    event_rule,
    known_evaluations,
    labels_of,
    objective_of,
    period_days,
    routes_of,
    slo_name_of,
)

SLOTH_VERSION = "prometheus/v1"
OPENSLO_VERSION = "openslo/v1"
SLOTH_DEFAULT_PERIOD = "30d"
PLUGIN_SCORE = "mre/score/v1"
PLUGIN_EVENT = "mre/event/v1"
ANNOTATION = "mre.dev/"  # prefix of the OpenSLO annotations that carry an mre SLI
WINDOW = "{{.window}}"

SLOTH_TOP = ("version", "service", "labels", "slos", "slo_plugins")
SLOTH_SLO = ("name", "objective", "description", "labels", "sli", "alerting", "plugins")
SLOTH_ALERTING = ("name", "labels", "annotations", "page_alert", "ticket_alert")
SLOTH_ALERT = ("labels", "annotations", "disable")


# --- Sloth ---------------------------------------------------------------------------------------


def parse_sloth(text: str, source: str, default_period: str = SLOTH_DEFAULT_PERIOD) -> SLOFile:
    data, problem = compose(text, source)
    if not isinstance(data, dict):
        raise SpecError([f"{source}:1: (top level): expected a Sloth prometheus/v1 mapping"])
    check_keys(data, SLOTH_TOP, "", problem)
    service = data.get("service")
    if not isinstance(service, str) or not service:
        problem("service", "required, a non-empty string")
    labels = labels_of(data.get("labels"), "labels", problem)
    raw_slos = data.get("slos")
    if not isinstance(raw_slos, list) or not raw_slos:
        problem("slos", "required, a non-empty list")
        raw_slos = []
    specs = [s for i, raw in enumerate(raw_slos) if (s := _sloth_slo(raw, f"slos[{i}]", problem, default_period))]
    check_unique(specs, problem)
    problem.raise_if_any()
    return SLOFile(str(service), labels, tuple(specs), source, Calibration())


def _sloth_slo(raw: Any, path: str, problem: Problem, default_period: str) -> SLOSpec | None:
    if not isinstance(raw, dict):
        problem(path, "each SLO must be a mapping")
        return None
    check_keys(raw, SLOTH_SLO, path, problem)
    name = slo_name_of(raw.get("name"), f"{path}.name", problem)
    objective = objective_of(raw.get("objective"), f"{path}.objective", problem)
    days = period_days(default_period, f"{path}.name", problem)
    sli = _sloth_sli(raw.get("sli"), f"{path}.sli", problem)
    alerting = _sloth_alerting(raw.get("alerting"), f"{path}.alerting", str(name), problem)
    labels = labels_of(raw.get("labels"), f"{path}.labels", problem)
    if name is None or objective is None or days is None or sli is None or alerting is None:
        return None
    scorer, threshold, event, filters, external = sli
    slo = SLO(name, scorer, threshold, objective, days, str(raw.get("description", "")))
    return SLOSpec(slo, filters, alerting, event, labels, external, DEFAULT_NO_DATA_MINUTES)


_Sli = tuple[str, float, str | None, dict[str, str], ExternalSLI | None]


def _sloth_sli(raw: Any, path: str, problem: Problem) -> _Sli | None:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("plugin", "events", "raw"):
        problem(path, "exactly one of 'events: {error_query, total_query}' or 'plugin: {id, options}'")
        return None
    if "raw" in raw:
        problem(
            f"{path}.raw",
            "a raw SLI is a ratio without its events, and the traffic-weighted budget needs them: "
            "use 'events: {error_query, total_query}'",
        )
        return None
    if "events" in raw:
        events = raw["events"]
        queries = _queries(events, f"{path}.events", ("error_query", "total_query"), problem)
        if queries is None:
            return None
        return "", 0.0, None, {}, ExternalSLI(*queries)
    plugin = raw["plugin"]
    if not isinstance(plugin, dict):
        problem(f"{path}.plugin", "a mapping with id and options")
        return None
    check_keys(plugin, ("id", "options"), f"{path}.plugin", problem)
    plugin_id, options = plugin.get("id"), plugin.get("options") or {}
    if plugin_id not in (PLUGIN_SCORE, PLUGIN_EVENT):
        problem(f"{path}.plugin.id", f"{PLUGIN_SCORE} or {PLUGIN_EVENT}, got {plugin_id!r}")
        return None
    if not isinstance(options, dict):
        problem(f"{path}.plugin.options", "a mapping")
        return None
    return _mre_sli(
        {str(k): str(v) for k, v in options.items()}, f"{path}.plugin.options", problem, score=plugin_id == PLUGIN_SCORE
    )


def _queries(raw: Any, path: str, keys: tuple[str, str], problem: Problem) -> tuple[str, str] | None:
    if not isinstance(raw, dict):
        problem(path, f"a mapping with {' and '.join(keys)}")
        return None
    check_keys(raw, keys, path, problem)
    out = []
    for key in keys:
        query = raw.get(key)
        if not isinstance(query, str) or WINDOW not in query:
            problem(f"{path}.{key}", f"a PromQL rate with {WINDOW} where the window goes, got {query!r}")
            return None
        out.append(query.strip())
    return out[0], out[1]


def _mre_sli(options: Mapping[str, str], path: str, problem: Problem, score: bool) -> _Sli | None:
    """(scorer, threshold, event, filters, None) from string options, as Sloth plugins and OpenSLO
    annotations give them."""
    keys = ("evaluation", "threshold", *FILTER_KEYS) if score else ("event", *FILTER_KEYS)
    check_keys(options, keys, path, problem)
    filters = {k: options[k] for k in FILTER_KEYS if k in options}
    if not score:
        event = options.get("event", "")
        rule = event_rule(event, f"{path}.event", problem, known_evaluations())
        return None if rule is None else (*rule, event, filters, None)
    evaluation = options.get("evaluation", "")
    evaluations = known_evaluations()
    if evaluation not in evaluations:
        problem(f"{path}.evaluation", f"unknown evaluation {evaluation!r}{did_you_mean(evaluation, evaluations)}")
        return None
    try:
        threshold = float(options.get("threshold", ""))
    except ValueError:
        threshold = -1.0
    if not 0.0 <= threshold <= 1.0:
        problem(f"{path}.threshold", f"a score in [0, 1], got {options.get('threshold')!r}")
        return None
    return evaluation, threshold, None, filters, None


def _sloth_alerting(raw: Any, path: str, slo_name: str, problem: Problem) -> AlertRouting | None:
    if raw is None:
        return AlertRouting(name=default_alert_name(slo_name))
    if not isinstance(raw, dict):
        problem(path, "must be a mapping")
        return None
    check_keys(raw, SLOTH_ALERTING, path, problem)
    name = raw.get("name") or default_alert_name(slo_name)
    routes = routes_of(raw, path, {"page": "page_alert", "ticket": "ticket_alert"}, SLOTH_ALERT, problem)
    if routes is None:
        return None
    annotations = labels_of(raw.get("annotations"), f"{path}.annotations", problem)
    runbook_url = annotations.pop("runbook_url", None)
    return AlertRouting(
        name=str(name),
        labels=labels_of(raw.get("labels"), f"{path}.labels", problem),
        page_labels=routes["page"],
        ticket_labels=routes["ticket"],
        runbook_url=runbook_url,
        annotations=annotations,
    )


# --- OpenSLO -------------------------------------------------------------------------------------


def parse_openslo(text: str, source: str) -> SLOFile:
    try:
        nodes = list(yaml.compose_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SpecError(
            [f"{source}:{mark.line + 1 if mark else 1}: invalid YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    located = _Located(source)
    problem = Reader(source, located)
    docs = [located.convert(node, f"[{i}]") for i, node in enumerate(nodes) if node is not None]
    slis: dict[str, Any] = {}
    slos: list[tuple[int, dict[str, Any]]] = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or doc.get("apiVersion") != OPENSLO_VERSION:
            problem(f"[{i}].apiVersion", f"every document must be {OPENSLO_VERSION}")
            continue
        kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
        if kind == "SLI" and isinstance(name, str):
            slis[name] = doc.get("spec")
        elif kind == "SLO":
            slos.append((i, doc))
    if not slos:
        problem("", "no document of kind SLO")
    services: set[str] = set()
    specs = []
    for i, doc in slos:
        spec, service = _openslo_slo(doc, f"[{i}]", slis, problem)
        if service:
            services.add(service)
        if spec is not None:
            specs.append(spec)
    if len(services) > 1:
        problem("", f"one service per file (the rules select one), got {sorted(services)}")
    check_unique(specs, problem)
    problem.raise_if_any()
    return SLOFile(next(iter(services)), {}, tuple(specs), source, Calibration())


def _openslo_slo(
    doc: dict[str, Any], path: str, slis: Mapping[str, Any], problem: Problem
) -> tuple[SLOSpec | None, str | None]:
    metadata = doc.get("metadata") or {}
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        problem(f"{path}.spec", "required, a mapping")
        return None, None
    name = slo_name_of(metadata.get("name"), f"{path}.metadata.name", problem)
    service = spec.get("service")
    if not isinstance(service, str) or not service:
        problem(f"{path}.spec.service", "required, a non-empty string")
        service = None
    if spec.get("budgetingMethod", "Occurrences") != "Occurrences":
        problem(
            f"{path}.spec.budgetingMethod",
            f"only Occurrences (good events over all events), got {spec.get('budgetingMethod')!r}",
        )
    days = _time_window(spec.get("timeWindow"), f"{path}.spec.timeWindow", problem)
    objective = _objective(spec.get("objectives"), f"{path}.spec.objectives", problem)
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    mine = {k[len(ANNOTATION) :]: v for k, v in annotations.items() if k.startswith(ANNOTATION)}
    control = {k: mine.pop(k) for k in ("alert-name", "runbook-url", "no-data", "page", "ticket") if k in mine}
    sli: _Sli | None
    if mine:
        sli = _mre_sli(mine, f"{path}.metadata.annotations", problem, score="event" not in mine)
    else:
        sli = _openslo_ratio(spec, f"{path}.spec", slis, problem)
    no_data: int | None = DEFAULT_NO_DATA_MINUTES
    if control.get("no-data") == "off":
        no_data = None
    elif "no-data" in control:
        no_data = duration_minutes(control["no-data"], f"{path}.metadata.annotations", problem)
    if name is None or days is None or objective is None or sli is None:
        return None, service
    scorer, threshold, event, filters, external = sli
    slo = SLO(name, scorer, threshold, objective, days, str(spec.get("description", "")))
    routing = AlertRouting(
        name=control.get("alert-name") or default_alert_name(name),
        page_labels=None if control.get("page") == "off" else {"severity": "page"},
        ticket_labels=None if control.get("ticket") == "off" else {"severity": "ticket"},
        runbook_url=control.get("runbook-url"),
    )
    return SLOSpec(slo, filters, routing, event, {}, external, no_data), service


def _time_window(raw: Any, path: str, problem: Problem) -> int | None:
    if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], dict):
        problem(path, "exactly one window, e.g. [{duration: 28d, isRolling: true}]")
        return None
    window = raw[0]
    if window.get("isRolling") is not True:
        problem(f"{path}[0].isRolling", "only rolling windows (calendar windows need other recording rules)")
        return None
    duration = str(window.get("duration", ""))
    if duration.endswith("w") and duration[:-1].isdigit():
        duration = f"{int(duration[:-1]) * 7}d"
    return period_days(duration, f"{path}[0].duration", problem)


def _objective(raw: Any, path: str, problem: Problem) -> float | None:
    if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], dict):
        problem(path, "exactly one objective with target or targetPercent")
        return None
    first = raw[0]
    if "targetPercent" in first:
        return objective_of(first["targetPercent"], f"{path}[0].targetPercent", problem)
    target = first.get("target")
    if isinstance(target, bool) or not isinstance(target, int | float):
        problem(f"{path}[0].target", f"a ratio in (0, 1), got {target!r}")
        return None
    return objective_of(target * 100, f"{path}[0].target", problem)


def _openslo_ratio(spec: Mapping[str, Any], path: str, slis: Mapping[str, Any], problem: Problem) -> _Sli | None:
    indicator = spec.get("indicator")
    if isinstance(indicator, dict):
        sli_spec, where = indicator.get("spec"), f"{path}.indicator.spec"
    elif isinstance(spec.get("indicatorRef"), str):
        sli_spec, where = slis.get(spec["indicatorRef"]), f"{path}.indicatorRef"
        if sli_spec is None:
            problem(where, f"no SLI named {spec['indicatorRef']!r} in the file")
            return None
    else:
        problem(path, "an indicator (inline) or an indicatorRef")
        return None
    ratio = sli_spec.get("ratioMetric") if isinstance(sli_spec, dict) else None
    if not isinstance(ratio, dict):
        problem(where, "only ratioMetric SLIs (good or bad, and total)")
        return None

    def query(key: str) -> str | None:
        source = ((ratio.get(key) or {}).get("metricSource") or {}).get("spec") or {}
        value = source.get("query") if isinstance(source, dict) else None
        return value if isinstance(value, str) and WINDOW in value else None

    total = query("total")
    bad = query("bad")
    good = query("good")
    if total is None or (bad is None and good is None):
        problem(where, f"ratioMetric needs total and good or bad, each metricSource.spec.query with {WINDOW}")
        return None
    error = bad.strip() if bad is not None else f"({total.strip()}) - ({good.strip()})"  # type: ignore[union-attr]
    return "", 0.0, None, {}, ExternalSLI(error, total.strip())
