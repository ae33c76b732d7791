"""Instrumentation settings: content capture, resolved explicit > environment > default."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Iterator

from mre import semconv as sc
from mre.metadata import ENV_METADATA_KEYS, metadata_keys_from_env

logger = logging.getLogger(__name__)

_ON = frozenset({"true", "1", "yes", "span_only", "span_and_event"})
_OFF = frozenset({"false", "0", "no", "no_content", "event_only"})


class _Settings:
    """Module state on purpose: the manual API and every instrumentor must agree on one switch."""

    default_capture: bool = False  # semconv default; mre's instrument() and distro turn it on
    warned: set[str] = set()  # noqa: RUF012


def set_default_capture(enabled: bool) -> None:
    _Settings.default_capture = enabled


def capture_content() -> bool:
    """Whether prompts, completions, queries and documents go on spans.

    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` wins when set (true/false, or the
    experimental modes: SPAN_ONLY and SPAN_AND_EVENT capture, NO_CONTENT and EVENT_ONLY do not: we do
    not emit content events). An unknown value warns once and uses the default.
    """
    raw = os.environ.get(sc.ENV_CAPTURE_CONTENT)
    if raw is None or not raw.strip():
        return _Settings.default_capture
    value = raw.strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    if value not in _Settings.warned:
        _Settings.warned.add(value)
        logger.warning(
            "%s=%r is not one of true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT; using %s",
            sc.ENV_CAPTURE_CONTENT,
            raw,
            _Settings.default_capture,
        )
    return _Settings.default_capture


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
class _MetadataKeys:
    mapping: dict[str, str] | None = None


def set_metadata_keys(mapping: dict[str, str]) -> None:
    """``{our_key: your_key}`` for ``updated_at``, ``version``, ``superseded_by``, ``acl``, ``status``."""
    _MetadataKeys.mapping = dict(mapping)


def metadata_keys() -> dict[str, str]:
    if _MetadataKeys.mapping is None:
        try:
            _MetadataKeys.mapping = metadata_keys_from_env()
        except ValueError as exc:  # the app must not fail for it: say why and map nothing
            logger.warning("%s ignored: %s", ENV_METADATA_KEYS, exc)
            _MetadataKeys.mapping = {}
    return _MetadataKeys.mapping
