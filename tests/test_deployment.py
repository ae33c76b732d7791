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


def _mounts(service: str) -> dict[Path, str]:
    """Host path (resolved from deploy/) -> container path, for one compose service."""
    out = {}
    for volume in COMPOSE["services"][service].get("volumes", []):
        host, container = volume.split(":")[:2]
        out[(ROOT / "deploy" / host).resolve()] = container
    return out


def _container_path(service: str, host_file: Path) -> str | None:
    """Where the container sees a host file, through a file or a directory mount."""
    for host, container in _mounts(service).items():
        if host_file == host:
            return container
        if host in host_file.parents:
            return container.rstrip("/") + "/" + str(host_file.relative_to(host))
    return None


def test_compose_mounts_every_generated_file_where_its_reader_looks(tmp_path: Path) -> None:
    import fnmatch

    from mre.exporters.slo_build import build
    from mre.slo_spec import load_default

    generated = [ROOT / "dashboards" / p.relative_to(tmp_path) for p in build(load_default(), tmp_path)]
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    provider = yaml.safe_load((ROOT / "dashboards" / "provisioning" / "dashboards.yaml").read_text())
    dashboards_dir = provider["providers"][0]["options"]["path"]
    alertmanager_config = next(
        a.split("=", 1)[1] for a in COMPOSE["services"]["alertmanager"]["command"] if a.startswith("--config.file=")
    )
    for path in generated:
        if path.name.endswith(".rules.yaml"):
            seen = _container_path("prometheus", path)
            assert seen and any(fnmatch.fnmatch(seen, glob) for glob in prometheus["rule_files"]), path
        elif path.parent.name == "grafana":
            seen = _container_path("grafana", path)
            assert seen and seen.startswith(dashboards_dir.rstrip("/") + "/"), path
        elif path.parent.name == "provisioning":
            kind = path.stem  # dashboards | datasources
            seen = _container_path("grafana", path)
            assert seen and seen.startswith(f"/etc/grafana/provisioning/{kind}/"), path
        elif path.name == "alertmanager.yaml":
            assert _container_path("alertmanager", path) == alertmanager_config, path
        else:
            raise AssertionError(f"{path}: a generated file the compose file does not know")


def test_prometheus_keeps_exemplars_and_grafana_runs_the_dashboards_schema() -> None:
    import json
    import re

    assert "--enable-feature=exemplar-storage" in COMPOSE["services"]["prometheus"]["command"]
    image = COMPOSE["services"]["grafana"]["image"]
    grafana = tuple(int(x) for x in re.search(r":(\d+)\.(\d+)", image).groups())  # type: ignore[union-attr]
    pyproject = (ROOT / "pyproject.toml").read_text()
    flavour = tuple(int(x) for x in re.search(r"grafana-foundation-sdk==\d+!(\d+)\.(\d+)", pyproject).groups())  # type: ignore[union-attr]
    assert grafana >= flavour, f"Grafana {image} is older than the dashboards' SDK flavour {flavour}"
    board = json.loads((ROOT / "dashboards" / "grafana" / "slo-overview.json").read_text())
    assert board["schemaVersion"] == 41  # Grafana 11.6's
    datasources = yaml.safe_load((ROOT / "dashboards" / "provisioning" / "datasources.yaml").read_text())
    by_type = {d["type"]: d for d in datasources["datasources"]}
    assert {"prometheus", "tempo", "loki"} <= set(by_type)
    (destination,) = by_type["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert destination["name"] == "trace_id" and destination["datasourceUid"] == by_type["tempo"]["uid"]
    for service in ("tempo", "loki", "prometheus"):
        assert service in COMPOSE["services"]


K8S = ROOT / "deploy" / "kubernetes"


def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def test_kubernetes_mre_runs_its_config_file_with_probes_on_healthz_and_a_disruption_budget(tmp_path: Path) -> None:
    from mre import serve_config
    from mre.cli import SUBCOMMANDS, build_parser
    from mre.slo_spec import parse

    docs = _k8s()
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    deployment = docs[("Deployment", "mre")]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["args"][:2] == ["serve", "--config"]
    config_path = Path(container["args"][2])
    (mount,) = container["volumeMounts"]
    assert config_path.parent == Path(mount["mountPath"])
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    config_map = docs[("ConfigMap", volume["configMap"]["name"])]
    mre_yaml = config_map["data"][config_path.name]
    build_parser()
    (tmp_path / "mre.yaml").write_text(mre_yaml)
    settings = serve_config.load(tmp_path / "mre.yaml", SUBCOMMANDS["serve"])  # a file `mre config check` accepts
    assert Path(settings["slos"]).parent == Path(mount["mountPath"])
    parse(config_map["data"][Path(settings["slos"]).name], "slos.yaml")  # and its SLO file loads
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == port_of(settings["metrics"]) and ports["otlp-grpc"] == port_of(settings["listen"])
    assert ports["otlp-http"] == port_of(settings["listen_http"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    pdb = docs[("PodDisruptionBudget", "mre")]
    assert pdb["spec"]["selector"]["matchLabels"] == labels and pdb["spec"]["maxUnavailable"] == 1


def test_the_collector_resolves_the_headless_mre_service_and_forwards_back_to_itself() -> None:
    docs = _k8s()
    service = docs[("Service", "mre")]
    assert service["spec"]["clusterIP"] == "None"  # DNS returns every replica
    collector = yaml.safe_load(docs[("ConfigMap", "otel-collector-config")]["data"]["config.yaml"])
    resolver = collector["exporters"]["loadbalancing/mre"]["resolver"]["dns"]
    name, namespace = resolver["hostname"].split(".")[:2]
    assert (name, namespace) == (service["metadata"]["name"], service["metadata"]["namespace"])
    assert resolver["port"] in {p["port"] for p in service["spec"]["ports"] if p["name"] == "otlp-grpc"}
    assert collector["exporters"]["loadbalancing/mre"]["routing_key"] == "traceID"
    # the same pipelines as the repository's collector configuration, only the addresses differ
    assert collector["service"] == CONFIG["service"] and collector["processors"] == CONFIG["processors"]
    mre_settings = yaml.safe_load(docs[("ConfigMap", "mre-config")]["data"]["mre.yaml"])
    host, port = mre_settings["forward"].rsplit(":", 1)
    assert host.split(".")[0] == "otel-collector" and int(port) == port_of(
        collector["receivers"]["otlp/from_mre"]["protocols"]["grpc"]["endpoint"]
    )
    assert int(port) in {p["port"] for p in docs[("Service", "otel-collector")]["spec"]["ports"]}
