"""The collector configuration and the compose file, checked structurally against `mre serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mre.cli import build_parser
from mre.processor.service import DEFAULT_LISTEN, DEFAULT_METRICS

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "otel-collector-config.yaml").read_text())
COMPOSE = yaml.safe_load((ROOT / "deploy" / "docker-compose.yaml").read_text())

# Component types of the collector-contrib distribution we rely on, and the signals each handles.
KNOWN = {
    "receivers": {"otlp": {"traces", "logs", "metrics"}},
    "processors": {
        "memory_limiter": {"traces", "logs", "metrics"},
        "batch": {"traces", "logs", "metrics"},
        "groupbytrace": {"traces"},
        "filter": {"traces", "logs", "metrics"},
    },
    "exporters": {
        "loadbalancing": {"traces", "logs"},
        "otlp": {"traces", "logs", "metrics"},
        "otlphttp": {"traces", "logs", "metrics"},
        "debug": {"traces", "logs", "metrics"},
    },
}


def component_type(name: str) -> str:
    return name.split("/", 1)[0]


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_every_referenced_component_is_defined_and_of_a_known_type_for_its_signal() -> None:
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for pipeline_name, pipeline in CONFIG["service"]["pipelines"].items():
        signal = component_type(pipeline_name)
        for kind in used:
            for component in pipeline.get(kind, []):
                assert component in CONFIG[kind], f"{pipeline_name}: {component} is not defined under {kind}"
                known = KNOWN[kind].get(component_type(component))
                assert known is not None, f"{component}: unknown {kind[:-1]} type"
                assert signal in known, f"{component} cannot carry {signal}"
                used[kind].add(component)
    for kind, components in used.items():
        assert set(CONFIG[kind]) == components, f"defined but unused {kind}: {set(CONFIG[kind]) - components}"


def test_every_pipeline_is_complete_and_limits_memory_first() -> None:
    for name, pipeline in CONFIG["service"]["pipelines"].items():
        assert pipeline.get("receivers") and pipeline.get("exporters"), name
        assert pipeline["processors"][0] == "memory_limiter", name


def test_the_front_tier_shards_whole_traces_over_mre_replicas_on_the_serve_default_port() -> None:
    lb: dict[str, Any] = CONFIG["exporters"]["loadbalancing/mre"]
    assert lb["routing_key"] == "traceID"
    assert lb["resolver"]["dns"]["port"] == port_of(DEFAULT_LISTEN)
    assert "groupbytrace" in CONFIG["service"]["pipelines"]["traces/to_mre"]["processors"]


def test_mre_forwards_to_the_collectors_return_receiver() -> None:
    return_port = port_of(CONFIG["receivers"]["otlp/from_mre"]["protocols"]["grpc"]["endpoint"])
    command = COMPOSE["services"]["mre"]["command"]
    args = build_parser().parse_args(command)
    assert args.forward == f"collector:{return_port}"
    assert args.listen == DEFAULT_LISTEN and args.metrics == DEFAULT_METRICS
    pipelines = CONFIG["service"]["pipelines"]
    assert pipelines["traces/enriched"]["receivers"] == ["otlp/from_mre"]
    assert pipelines["logs/evaluations"]["receivers"] == ["otlp/from_mre"]


def test_compose_runs_the_whole_stack_and_prometheus_scrapes_the_metrics_port() -> None:
    assert {"collector", "mre", "prometheus", "alertmanager", "grafana", "tempo", "loki"} <= set(COMPOSE["services"])
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["dns_sd_configs"][0]["port"] == port_of(DEFAULT_METRICS)
    backend = CONFIG["exporters"]["otlp/traces_backend"]["endpoint"]
    assert backend.split(":")[0] in COMPOSE["services"]


def test_human_verdicts_reach_the_replica_that_scored_their_trace() -> None:
    from mre import semconv as sc

    pipeline = CONFIG["service"]["pipelines"]["logs/human_verdicts"]
    assert pipeline["exporters"] == ["loadbalancing/mre"]  # routed by trace id, like the spans
    (condition,) = CONFIG["processors"]["filter/human_verdicts"]["logs"]["log_record"]
    assert condition == f'attributes["{sc.MRE_EVALUATION_SOURCE}"] != "{sc.EVALUATION_SOURCE_HUMAN}"'
    assert CONFIG["service"]["pipelines"]["logs/app"]["exporters"] == ["otlphttp/logs_backend"]
