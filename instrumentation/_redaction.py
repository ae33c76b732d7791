"""The redaction hook: masks content before it is recorded on any span.

Off by default. ``mre.instrumentation.instrument(redact=True)`` turns on the built-in redactor (emails,
phone numbers, card numbers, national ids, API keys and tokens become typed placeholders such as
``[EMAIL]``); ``redact=callable`` installs your own ``str -> str``; ``MRE_REDACT=builtin`` does the
former from the environment. A failing hook drops the text instead of recording it unmasked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from mre.instrumentation._settings import configure, from_environment, settings
from mre.redaction import redactor

logger = logging.getLogger("mre.instrumentation")

ENV_REDACT = "MRE_REDACT"
DROPPED = "[REDACTION FAILED]"


def set_redactor(hook: Callable[[str], str] | None) -> None:
    """Set in code: wins over ``MRE_REDACT`` (``None`` turns redaction off)."""
    configure(redactor=hook, redact_explicit=True)


def _env_redactor() -> Callable[[str], str] | None:
    return redactor() if os.environ.get(ENV_REDACT, "").strip().lower() in ("builtin", "true", "1", "yes") else None


def _hook() -> Callable[[str], str] | None:
    current = settings()
    return current.redactor if current.redact_explicit else from_environment(ENV_REDACT, _env_redactor)


def redact(text: str) -> str:
    hook = _hook()
    if hook is None:
        return text
    try:
        return hook(text)
    except Exception:
        logger.warning("redaction hook failed; the text is not recorded", exc_info=True)
        return DROPPED
