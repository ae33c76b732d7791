"""Reading an SLO file of any format this project knows: ``mre/v1`` (:mod:`mre.slo_spec`), Sloth
``prometheus/v1`` and OpenSLO ``openslo/v1`` (:mod:`mre.slo_formats`), told apart by the version line.
It sits above both so that neither imports the other back."""

from __future__ import annotations

import re
from pathlib import Path

from mre.slo_formats import parse_openslo, parse_sloth
from mre.slo_spec import SLOFile, parse


def load(path: str | Path) -> SLOFile:
    """An mre, Sloth ``prometheus/v1`` or OpenSLO ``openslo/v1`` file, told apart by its version."""
    text = Path(path).read_text(encoding="utf-8")
    return parse_any(text, str(path))


def parse_any(text: str, source: str) -> SLOFile:
    head = _head(text)
    if head == "prometheus/v1" or str(head).startswith("openslo/"):
        return parse_sloth(text, source) if head == "prometheus/v1" else parse_openslo(text, source)
    return parse(text, source)


def _head(text: str) -> str | None:
    for line in text.splitlines():
        match = re.match(r"""^(version|apiVersion):\s*["']?([^"'\s#]+)""", line)
        if match:
            return match.group(2)
    return None
