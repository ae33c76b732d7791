"""The one helper that keeps our errors out of the host application."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

logger = logging.getLogger("mre.instrumentation")

P = ParamSpec("P")
R = TypeVar("R")
D = TypeVar("D")


def never_raise(default: D) -> Callable[[Callable[P, R]], Callable[P, R | D]]:
    """Decorate instrumentation-internal code: an exception is logged at debug level and ``default``
    returned. Never use it around the library call itself, whose errors belong to the app."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R | D]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | D:
            try:
                return fn(*args, **kwargs)
            except Exception:
                logger.debug("mre instrumentation error in %s (ignored)", fn.__qualname__, exc_info=True)
                return default

        return wrapper

    return decorate
