"""`mre serve --config`: every flag as a key; flags beat MRE_* variables, which beat the file;
`mre config check` reports each problem with file and line."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mre import serve_config
from mre.cli import SUBCOMMANDS, build_parser
from mre.slo_spec import SpecError
from tests.helpers import free_port

GOOD = """\
listen: 127.0.0.1:0
listen-http: "off"
metrics: 127.0.0.1:{port}
strip_content: true
trace_timeout: 30
grace: 0.5
"""


def _parse(argv: list[str], config: Path | None, environ: dict[str, str]) -> object:
    parser = build_parser()
    serve = SUBCOMMANDS["serve"]
    values = serve_config.load(config, serve) if config else {}
    values.update(serve_config.from_environment(serve, environ))
    serve.set_defaults(**values)
    return parser.parse_args(["serve", *argv])


def test_every_flag_is_a_key_and_flags_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mre.yaml"
    path.write_text(GOOD.format(port=9999))
    args = _parse([], path, {})
    assert (args.listen, args.listen_http, args.strip_content, args.trace_timeout, args.grace) == (  # type: ignore[attr-defined]
        "127.0.0.1:0",
        "off",
        True,
        30.0,
        0.5,
    )
    args = _parse([], path, {"MRE_TRACE_TIMEOUT": "10", "MRE_FORWARD": "collector:4327"})
    assert (args.trace_timeout, args.forward) == (10.0, "collector:4327")  # type: ignore[attr-defined]
    args = _parse(["--trace-timeout", "5"], path, {"MRE_TRACE_TIMEOUT": "10"})
    assert args.trace_timeout == 5.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "listen: 0.0.0.0:4317\ntrace_timout: 5\n",
            "mre.yaml:2: trace_timout: unknown setting; did you mean 'trace_timeout'?",
        ),
        ("grace: soon\n", "mre.yaml:1: grace: a number, got 'soon'"),
        ("strip_content: maybe\n", "mre.yaml:1: strip_content: true or false"),
        ("listen: [a, b]\n", "mre.yaml:1: listen: a single value"),
    ],
    ids=["typo", "number", "bool", "list"],
)
def test_a_bad_config_file_is_refused_with_file_line_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "mre.yaml"
    path.write_text(text)
    build_parser()
    with pytest.raises(SpecError) as raised:
        serve_config.load(path, SUBCOMMANDS["serve"])
    assert any(p.endswith(expected) or expected in p for p in raised.value.problems), raised.value.problems
    result = subprocess.run([sys.executable, "-m", "mre", "config", "check", str(path)], capture_output=True, text=True)
    assert result.returncode == 2 and expected.split(": ", 1)[1] in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "mre", "serve", "--config", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_mre_serve_runs_from_its_config_file(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "mre.yaml"
    path.write_text(GOOD.format(port=port))
    check = subprocess.run([sys.executable, "-m", "mre", "config", "check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0 and "6 settings" in check.stdout
    process = subprocess.Popen(
        [sys.executable, "-m", "mre", "serve", "--config", str(path)], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "mre serve did not start"
                time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0 and "OTLP/HTTP" not in err.splitlines()[0]  # listen_http: off
