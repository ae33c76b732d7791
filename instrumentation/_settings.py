"""Instrumentation settings: content capture, resolved explicit > environment > default."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from mre import semconv as sc
from mre.metadata import ENV_METADATA_KEYS, parse_metadata_keys

logger = logging.getLogger(__name__)
T = TypeVar("T")

_ON = frozenset({"true", "1", "yes", "span_only", "span_and_event"})
_OFF = frozenset({"false", "0", "no", "no_content", "event_only"})


@dataclass(frozen=True)
class Settings:
    """What every instrumentor and the manual API read: one immutable value, replaced whole
    (:func:`configure`), so a span never sees half of a change. Each setting resolves
    explicit (set in code) > environment > default."""

    capture_content: bool | None = None  # explicit; None: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
    default_capture: bool = False  # semconv's default; mre's instrument() and distro turn it on
    redactor: Callable[[str], str] | None = None  # explicit hook; else MRE_REDACT=builtin
    redact_explicit: bool = False  # whether ``redactor`` was set in code (None then means: no redaction)
    metadata_keys: Mapping[str, str] | None = None  # explicit; None: MRE_METADATA_KEYS


_current = Settings()
_lock = threading.Lock()
_warned: set[str] = set()  # unknown capture values already warned about (once each)
# What the environment says, read at first use after each change of the settings: these are asked on
# the application's thread for every document and message, where an os.environ lookup is ~0.6 us.
_environment: dict[str, Any] = {}


def from_environment(name: str, read: Callable[[], T]) -> T:
    """``read()``, taken once until the settings next change (configure, restore)."""
    if name not in _environment:
        _environment[name] = read()
    return _environment[name]


def settings() -> Settings:
    return _current


def configure(**changes: Any) -> Settings:
    """Replace the settings with ``changes`` applied (``dataclasses.replace``); returns the new ones."""
    global _current
    with _lock:
        _current = replace(_current, **changes)
        _environment.clear()
        return _current


def restore(previous: Settings) -> None:
    """Put back settings read earlier with :func:`settings` (tests, scoped changes)."""
    global _current
    with _lock:
        _current = previous
        _environment.clear()


def set_default_capture(enabled: bool) -> None:
    """The default the environment can override (mre's distro and instrument() turn it on)."""
    configure(default_capture=enabled)


def capture_content() -> bool:
    """Whether prompts, completions, queries and documents go on spans.

    Set in code (``instrument(capture_content=...)``) it is that; else
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` when set (true/false, or the experimental
    modes: SPAN_ONLY and SPAN_AND_EVENT capture, NO_CONTENT and EVENT_ONLY do not: we do not emit
    content events); else the default. An unknown value warns once and uses the default.
    """
    current = _current
    if current.capture_content is not None:
        return current.capture_content
    raw = os.environ.get(sc.ENV_CAPTURE_CONTENT)
    if raw is None or not raw.strip():
        return current.default_capture
    value = raw.strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    if value not in _warned:
        _warned.add(value)
        logger.warning(
            "%s=%r is not one of true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT; using %s",
            sc.ENV_CAPTURE_CONTENT,
            raw,
            current.default_capture,
        )
    return current.default_capture


_GUARDRAIL_TARGET: contextvars.ContextVar[str | None] = contextvars.ContextVar("mre_guardrail_target", default=None)


def guardrail_target() -> str | None:
    """What a library guardrail call (e.g. OpenAI moderations) is checking, when the app said so with
    :func:`checking`; else ``None`` (the attribute is left out) and the processor tells input from
    output by where the check sits in the trace: before the answer's generation, or after it."""
    return _GUARDRAIL_TARGET.get()


@contextlib.contextmanager
def checking(target: str) -> Iterator[None]:
    """``with checking("output"): client.moderations.create(input=answer)`` marks the call as an
    output guardrail."""
    if target not in sc.GUARDRAIL_TARGETS:
        raise ValueError(f"target must be 'input' or 'output', got {target!r}")
    token = _GUARDRAIL_TARGET.set(target)
    try:
        yield
    finally:
        _GUARDRAIL_TARGET.reset(token)


# Metadata keys reliability scoring reads, mapped from the names an index actually uses, e.g.
# MRE_METADATA_KEYS="updated_at=last_modified,acl=allowed_groups,superseded_by=replaced_by"
# (mre.metadata; the processor applies the same mapping to every dialect).
def set_metadata_keys(mapping: Mapping[str, str]) -> None:
    """``{our_key: your_key}`` for ``updated_at``, ``version``, ``superseded_by``, ``acl``, ``status``."""
    configure(metadata_keys=dict(mapping))


def metadata_keys() -> Mapping[str, str]:
    explicit = _current.metadata_keys
    return explicit if explicit is not None else from_environment(ENV_METADATA_KEYS, _env_metadata_keys)


def _env_metadata_keys() -> Mapping[str, str]:
    """A bad value is said once and maps nothing: the app must not fail for it."""
    try:
        return parse_metadata_keys(os.environ.get(ENV_METADATA_KEYS, ""))
    except ValueError as exc:
        logger.warning("%s ignored: %s", ENV_METADATA_KEYS, exc)
        return {}
