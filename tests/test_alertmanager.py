"""The shipped Alertmanager example: amtool accepts it, every generated alert reaches the receiver
its severity names (amtool's route test), and a real Alertmanager inhibits a ticket while the page
of the same SLO fires (Debian's prometheus-alertmanager)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mre.exporters.slo_rules import build_rules
from mre.slo_spec import load_default
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "dashboards" / "alertmanager.yaml"
RECEIVER = {"page": "ml-platform-oncall", "ticket": "ml-platform-tickets", "info": "ml-platform-info"}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} missing: `make test` installs the Debian package prometheus-alertmanager")
        pytest.skip(f"{name} not installed (make test installs it)")
    return found


def test_amtool_accepts_the_example() -> None:
    result = subprocess.run([_tool("amtool"), "check-config", str(CONFIG)], capture_output=True, text=True)
    assert result.returncode == 0 and "2 inhibit rules" in result.stdout, result.stdout + result.stderr


def _generated_alerts() -> Iterator[dict[str, Any]]:
    for group in build_rules(load_default())["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                yield rule


def test_every_generated_alert_is_routed_to_the_receiver_of_its_severity() -> None:
    amtool = _tool("amtool")
    seen = set()
    for rule in _generated_alerts():
        labels = {"alertname": rule["alert"], **rule["labels"]}
        severity = labels.get("sloth_severity", labels.get("severity"))
        args = [f"{k}={v}" for k, v in sorted(labels.items())]
        result = subprocess.run(
            [
                amtool,
                "config",
                "routes",
                "test",
                f"--config.file={CONFIG}",
                f"--verify.receivers={RECEIVER[severity]}",
                *args,
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"{labels}: {result.stdout}{result.stderr}"
        seen.add(severity)
    assert seen == {"page", "ticket", "info"}


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            _tool("prometheus-alertmanager"),
            f"--config.file={CONFIG}",
            f"--storage.path={tmp_path}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("alertmanager did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _post(url: str, alerts: list[dict[str, Any]]) -> None:
    body = json.dumps(alerts).encode()
    request = urllib.request.Request(f"{url}/api/v2/alerts", body, {"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).close()


def _state(url: str) -> dict[tuple[str, str], list[str]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        alerts = json.load(response)
    return {
        (a["labels"]["alertname"], a["labels"].get("sloth_severity", a["labels"].get("sloth_slo", ""))): a["status"][
            "inhibitedBy"
        ]
        for a in alerts
    }


def test_a_page_inhibits_the_ticket_of_the_same_slo_and_nothing_else(alertmanager: str) -> None:
    rules = {(r["alert"], r["labels"].get("sloth_severity")): r for r in _generated_alerts()}
    slo = {
        "sloth_id": "policy-assistant-faithfulness",
        "sloth_service": "policy-assistant",
        "sloth_slo": "faithfulness",
    }
    other = {"sloth_id": "policy-assistant-safety", "sloth_service": "policy-assistant", "sloth_slo": "safety"}
    page = {"alertname": "FaithfulnessBudgetBurn", **rules[("FaithfulnessBudgetBurn", "page")]["labels"], **slo}
    ticket = {"alertname": "FaithfulnessBudgetBurn", **rules[("FaithfulnessBudgetBurn", "ticket")]["labels"], **slo}
    other_ticket = {"alertname": "SafetyBudgetBurn", **rules[("SafetyBudgetBurn", "ticket")]["labels"], **other}
    _post(alertmanager, [{"labels": labels} for labels in (page, ticket, other_ticket)])
    deadline = time.monotonic() + 10
    state: dict[tuple[str, str], list[str]] = {}
    while time.monotonic() < deadline:
        state = _state(alertmanager)
        if len(state) == 3 and state[("FaithfulnessBudgetBurn", "ticket")]:
            break
        time.sleep(0.2)
    assert state[("FaithfulnessBudgetBurn", "ticket")], state  # inhibited by the page
    assert state[("FaithfulnessBudgetBurn", "page")] == []
    assert state[("SafetyBudgetBurn", "ticket")] == []  # another SLO's ticket still goes out
