"""The optional compiled build (``MRE_MYPYC=1``, setup.py): a real wheel, built by pip with mypyc and
the C compiler, whose hot modules are extensions, and which assembles, scores and records exactly what
the pure-Python package does. Building takes ~3.5 minutes: the slowest test of the suite."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from benchmarks.service import _interactions, make_traces, start_serve

ROOT = Path(__file__).resolve().parent.parent
COMPILED: tuple[str, ...] = next(  # setup.py's list, read without running setup()
    ast.literal_eval(node.value)
    for node in ast.parse((ROOT / "setup.py").read_text()).body
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED"
)

# Run in a fresh interpreter against one build: the recorded real-application traces assembled, bench
# answers and public human-labelled pairs scored, every evaluation recorded by the Prometheus sink.
# Prints which modules were extensions and a digest of everything that came out.
CHECK = r"""
import glob, hashlib, itertools, json, re, sys
sys.path.append(ROOT)  # the checkout's tests and benchmarks; `mre` itself from the build under test
import importlib
from prometheus_client import CollectorRegistry, generate_latest
from benchmarks.scoring import make_interactions
from mre.exporters.prometheus import PrometheusSink
from mre.processor.interactions import build_interactions
from mre.processor.offline import read_examples
from mre.processor.pipeline import ScoringPipeline
from tests.realapps import matrix

extensions = sorted(m for m in MODULES if importlib.import_module(m).__file__.endswith(".so"))
digest = hashlib.sha256()
interactions = []
for path in matrix.recorded_paths():
    for trace in matrix.by_trace(matrix.records(matrix.load(path))):
        for interaction in build_interactions(trace):
            digest.update(repr(interaction).encode())
            interactions.append(interaction)
interactions += make_interactions(300) + make_interactions(60, seed=7, context_bytes=9000)
for name in sorted(glob.glob(DATA + "/*.jsonl")):
    examples, _ = read_examples(itertools.islice(open(name), 60), skip_invalid=True)
    interactions += [e.interaction for e in examples]
registry = CollectorRegistry()
pipeline = ScoringPipeline(sinks=[PrometheusSink(registry)])
for k in range(0, len(interactions), 128):
    for evaluation in pipeline.score_many(interactions[k : k + 128]):
        pipeline.deliver(evaluation)
        for name, score in sorted(evaluation.scores.items()):
            digest.update(json.dumps([name, score.value, score.label, score.explanation,
                                      json.dumps(score.details, sort_keys=True, default=str)], default=str).encode())
        digest.update(repr((evaluation.slo_outcomes, evaluation.cause, sorted(evaluation.skipped.items()))).encode())
metrics = generate_latest(registry).decode()
metrics = re.sub(r" # \{.*", "", metrics)  # exemplars carry the time of observation
from mre.exporters.conventions import METRIC_SCORING_DURATION
timed = re.compile(rf"^{METRIC_SCORING_DURATION}|^\w+_created\b")  # durations, and when each series began
metrics = "\n".join(line for line in metrics.splitlines() if not timed.match(line))
digest.update(metrics.encode())
print(json.dumps({"extensions": extensions, "interactions": len(interactions), "digest": digest.hexdigest()}))
"""


def run_check(pythonpath: Path | None, cwd: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    script = f"ROOT = {str(ROOT)!r}; DATA = {str(ROOT.parent / 'shared' / 'data' / 'faithfulness_dev')!r}\n"
    script += f"MODULES = {list(COMPILED)!r}\n" + CHECK
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."],
        cwd=ROOT,
        env={**os.environ, "MRE_MYPYC": "1"},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("mre_otel-*.whl")
    assert "none-any" not in wheel.name  # a platform wheel: it carries extensions
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)  # what pip install --target would lay out, without resolving deps
    return target


def test_a_compiled_wheel_holds_every_listed_module_and_behaves_as_the_pure_package(
    compiled: Path, tmp_path: Path
) -> None:
    pure = run_check(None, tmp_path)
    built = run_check(compiled, tmp_path)
    assert pure["extensions"] == []  # the reference really is pure Python
    assert built["extensions"] == sorted(COMPILED)  # every listed module loads as an extension
    assert built["interactions"] == pure["interactions"] and int(str(pure["interactions"])) > 1000
    assert built["digest"] == pure["digest"]


def test_mre_serve_from_the_compiled_build_scores_what_the_sdks_exporter_sends(
    compiled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(compiled))
    proc, port, metrics_port = start_serve()
    try:
        with open(f"/proc/{proc.pid}/maps") as maps:  # the extensions this process really loaded
            assert str(compiled / "mre_compiled__mypyc") in maps.read()
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=30)
        for batch in make_traces(50):
            exporter.export(batch)
        deadline = time.monotonic() + 60
        while _interactions(metrics_port) < 50 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _interactions(metrics_port) == 50
        exporter.shutdown()
    finally:
        proc.terminate()
        proc.wait(30)


def test_an_editable_install_is_never_compiled() -> None:
    """Extensions beside the sources would shadow every later edit of those files."""
    done = subprocess.run(
        [sys.executable, "setup.py", "editable_wheel"],
        cwd=ROOT,
        env={**os.environ, "MRE_MYPYC": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "not editable" in done.stderr
