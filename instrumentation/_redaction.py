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

from mre.redaction import redactor

logger = logging.getLogger("mre.instrumentation")

ENV_REDACT = "MRE_REDACT"
DROPPED = "[REDACTION FAILED]"


class _Hook:
    current: Callable[[str], str] | None = None
    from_env_checked = False


def set_redactor(hook: Callable[[str], str] | None) -> None:
    _Hook.current = hook
    _Hook.from_env_checked = True


def _from_env() -> None:
    _Hook.from_env_checked = True
    if os.environ.get(ENV_REDACT, "").strip().lower() in ("builtin", "true", "1", "yes"):
        _Hook.current = redactor()


def redact(text: str) -> str:
    if not _Hook.from_env_checked:
        _from_env()
    hook = _Hook.current
    if hook is None:
        return text
    try:
        return hook(text)
    except Exception:
        logger.warning("redaction hook failed; the text is not recorded", exc_info=True)
        return DROPPED
