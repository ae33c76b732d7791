"""Every bad invocation is one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

GOOD_ROW = '{"question": "q?", "answer": "a.", "contexts": ["a."], "label": 1}\n'


@pytest.fixture(scope="module")
def taken() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mre", *args], capture_output=True, text=True, timeout=120)


def _files(tmp: Path) -> dict[str, Path]:
    files = {
        "latin1": tmp / "latin1.jsonl",
        "empty": tmp / "empty.jsonl",
        "invalid": tmp / "invalid.jsonl",
        "good": tmp / "good.jsonl",
        "bad_slos": tmp / "slos.yaml",
    }
    files["latin1"].write_bytes('{"question": "caf\u00e9"}\n'.encode("latin-1"))
    files["empty"].write_text("")
    files["invalid"].write_text("not json\n")
    files["good"].write_text(GOOD_ROW)
    files["bad_slos"].write_text("version: mre/v1\nservice: x\nslos: []\n")
    return files


CASES = {
    "listen-port-not-a-number": (["serve", "--listen", "127.0.0.1:abc", "--metrics", "127.0.0.1:0"], "HOST:PORT"),
    "listen-without-port": (["serve", "--listen", "127.0.0.1", "--metrics", "127.0.0.1:0"], "HOST:PORT"),
    "grpc-port-taken": (["serve", "--listen", "127.0.0.1:{taken}", "--metrics", "127.0.0.1:0"], "in use"),
    "http-port-taken": (
        ["serve", "--listen", "127.0.0.1:0", "--listen-http", "127.0.0.1:{taken}", "--metrics", "127.0.0.1:0"],
        "OTLP/HTTP",
    ),
    "metrics-port-taken": (
        ["serve", "--listen", "127.0.0.1:0", "--listen-http", "off", "--metrics", "127.0.0.1:{taken}"],
        "in use",
    ),
    "metrics-not-a-port": (["serve", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:x"], "PORT"),
    "serve-bad-slos": (["serve", "--listen", "127.0.0.1:0", "--slos", "{bad_slos}"], "slos"),
    "serve-missing-cert": (["serve", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "nonexistent"),
    "eval-not-utf8": (["eval", "{latin1}"], "latin1.jsonl is not UTF-8"),
    "gate-not-utf8": (["eval", "--baseline", "{latin1}", "--candidate", "{good}"], "latin1.jsonl is not UTF-8"),
    "eval-empty": (["eval", "{empty}"], "no valid example"),
    "eval-all-invalid": (["eval", "--skip-invalid", "{invalid}"], "no valid example"),
    "gate-empty-candidate": (["eval", "--baseline", "{good}", "--candidate", "{empty}"], "no valid example"),
    "eval-missing-file": (["eval", "/nonexistent.jsonl"], "cannot read"),
    "slo-check-missing": (["slo", "check", "/nonexistent.yaml"], "nonexistent"),
    "slo-check-not-utf8": (["slo", "check", "{latin1}"], "UTF-8"),
    "demo-metrics-port-taken": (["demo", "--quiet", "--interactions", "1", "--metrics-port", "{taken}"], "in use"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_invocation_is_one_line_and_a_non_zero_exit(case: str, taken: int, tmp_path: Path) -> None:
    argv, expected = CASES[case]
    paths = {k: str(v) for k, v in _files(tmp_path).items()}
    result = _run(*(a.format(taken=taken, **paths) for a in argv))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert expected.lower() in lines[0].lower(), lines[0]
