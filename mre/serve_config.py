"""`mre serve --config mre.yaml`: every `mre serve` flag as a key of one YAML mapping.

    # mre.yaml
    listen: 0.0.0.0:4317
    listen_http: 0.0.0.0:4318        # or off
    metrics: 0.0.0.0:9464
    forward: collector:4327
    strip_content: true
    slos: /etc/mre/slos.yaml
    trace_timeout: 30

Keys are the flags' names with ``_`` or ``-`` (``trace_timeout`` = ``--trace-timeout``). What wins:
a flag on the command line, then ``MRE_<KEY>`` in the environment (``MRE_FORWARD``), then the file,
then the default. ``mre config check mre.yaml`` validates the file with ``file:line`` errors (unknown
keys get a "did you mean"), as ``mre serve --config`` does before it starts.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mre.slo_spec import SpecError, compose, did_you_mean

ENV_PREFIX = "MRE_"
_SKIP = {"help", "config", "func", "verbose"}


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The settable options of a subcommand, by dest."""
    return {
        a.dest: a
        for a in parser._actions  # argparse keeps no public list of a parser's actions
        if a.option_strings and a.dest not in _SKIP
    }


def _convert(action: argparse.Action, value: Any, where: str) -> tuple[Any, str | None]:
    """The value as the flag would have parsed it, or an error message."""
    if isinstance(action, argparse._StoreTrueAction):
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes"), None
        return None, f"{where}: true or false, got {value!r}"
    kind = action.type
    if kind in (int, float):
        try:
            if isinstance(value, bool):
                raise ValueError
            return kind(value), None
        except (TypeError, ValueError):
            return None, f"{where}: a number, got {value!r}"
    if isinstance(value, dict | list):
        return None, f"{where}: a single value, got {type(value).__name__}"
    if value is False and action.dest == "listen_http":
        return "off", None
    return str(value), None


def load(path: str | Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """dest -> value from the file; :class:`SpecError` listing every problem with its line."""
    source = str(path)
    text = Path(path).read_text(encoding="utf-8")
    data, problem = compose(text, source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError([f"{source}:1: (top level): a mapping of `mre serve` settings"])
    known = options(parser)
    names = sorted(known)
    out: dict[str, Any] = {}
    for key, value in data.items():
        dest = key.replace("-", "_")
        action = known.get(dest)
        if action is None:
            problem(key, f"unknown setting{did_you_mean(dest, names)} (settings: every `mre serve` flag)")
            continue
        converted, error = _convert(action, value, key)
        if error is not None:
            problem(key, error.split(": ", 1)[1])
            continue
        out[dest] = converted
    problem.raise_if_any()
    return out


def from_environment(parser: argparse.ArgumentParser, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """dest -> value from ``MRE_<DEST>`` variables; ValueError names a bad one."""
    out: dict[str, Any] = {}
    for dest, action in options(parser).items():
        raw = environ.get(ENV_PREFIX + dest.upper())
        if raw is None or raw == "":
            continue
        converted, error = _convert(action, raw, ENV_PREFIX + dest.upper())
        if error is not None:
            raise ValueError(error)
        out[dest] = converted
    return out


def defaults(parser: argparse.ArgumentParser, config: str | None) -> dict[str, Any]:
    """The file's values, then the environment's over them: the defaults flags override."""
    out: dict[str, Any] = {}
    if config:
        out.update(load(config, parser))
    out.update(from_environment(parser))
    return out
