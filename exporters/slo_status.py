"""`mre slo status`: the error-budget view of every SLO, read from Prometheus' HTTP API."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass

from mre.exporters import conventions as c
from mre.exporters.slo_rules import label_matcher

QUERIES = {
    "objective": c.OBJECTIVE,
    "sli_error_1h": c.sli_error("1h"),
    "budget_remaining": c.PERIOD_BUDGET_REMAINING,
    "burn_rate_5m": c.CURRENT_BURN_RATE,
    "burn_rate_period": c.PERIOD_BURN_RATE,
}


@dataclass
class SLOStatus:
    service: str
    slo: str
    objective: float | None = None
    sli_error_1h: float | None = None
    budget_remaining: float | None = None
    burn_rate_5m: float | None = None
    burn_rate_period: float | None = None

    @property
    def sli(self) -> float | None:
        return None if self.sli_error_1h is None else 1.0 - self.sli_error_1h


def _query(base: str, expr: str, timeout_s: float) -> list[dict[str, object]]:
    url = f"{base.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {expr!r}: {body.get('error')}")
    return body["data"]["result"]


def fetch(base_url: str, service: str | None = None, timeout_s: float = 10.0) -> list[SLOStatus]:
    statuses: dict[tuple[str, str], SLOStatus] = {}
    selector = "{" + label_matcher(c.SLOTH_SERVICE, service) + "}" if service else ""
    for field, metric in QUERIES.items():
        for sample in _query(base_url, metric + selector, timeout_s):
            labels = sample["metric"]
            assert isinstance(labels, dict)
            key = (str(labels.get(c.SLOTH_SERVICE, "")), str(labels.get(c.SLOTH_SLO, "")))
            status = statuses.setdefault(key, SLOStatus(*key))
            value = sample["value"]
            assert isinstance(value, list)
            number = float(value[1])
            setattr(status, field, None if number != number else number)  # NaN: no events yet
    return sorted(statuses.values(), key=lambda s: (s.service, s.slo))
