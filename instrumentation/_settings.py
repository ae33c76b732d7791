"""Instrumentation settings: content capture, resolved explicit > environment > default."""

from __future__ import annotations

import logging
import os

from mre import semconv as sc

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
