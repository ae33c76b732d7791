"""Declarative patch tables: every instrumentor lists (module, class, method, spec, is_async) and
shares this one way to apply and undo them, with the coexistence rule (see ``_coexist``)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection, Iterable, Mapping
from typing import Any, NamedTuple

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from mre.instrumentation._coexist import wrapped_by_other
from mre.instrumentation._metrics import Instruments
from mre.instrumentation._stages import get_tracer
from mre.instrumentation._wrapping import CallSpec, make_wrapper

logger = logging.getLogger("mre.instrumentation")


class Patch(NamedTuple):
    module: str
    cls: str
    method: str
    spec: Any  # a CallSpec, or a wrapper factory (tracer, instruments) -> wrapper for custom shapes
    is_async: bool


def _owner(module: str, cls: str) -> Any:
    try:
        return getattr(importlib.import_module(module), cls, None)
    except ImportError:
        return None  # a version of the library without this API


def apply_patches(patches: Iterable[Patch], kwargs: Mapping[str, Any]) -> list[tuple[Any, str]]:
    tracer = get_tracer(kwargs.get("tracer_provider"))
    instruments = Instruments.of(kwargs.get("meter_provider"))
    patched = []
    for patch in patches:
        owner = _owner(patch.module, patch.cls)
        if owner is None or not hasattr(owner, patch.method):
            continue
        if wrapped_by_other(owner, patch.method):
            logger.info("%s.%s is traced by another instrumentation: mre yields to it", patch.cls, patch.method)
            continue
        if isinstance(patch.spec, CallSpec):
            wrapper = make_wrapper(patch.spec, tracer, instruments, patch.is_async)
        else:
            wrapper = patch.spec(tracer, instruments)
        wrap_function_wrapper(owner, patch.method, wrapper)
        patched.append((owner, patch.method))
    return patched


def remove_patches(patched: Iterable[tuple[Any, str]]) -> None:
    for owner, method in patched:
        unwrap(owner, method)


class PatchingInstrumentor(BaseInstrumentor):
    """An instrumentor defined by its patch table: subclasses set ``PATCHES`` and ``INSTRUMENTS``."""

    PATCHES: tuple[Patch, ...] = ()
    INSTRUMENTS: tuple[str, ...] = ()
    # BaseInstrumentor is a singleton per class: no __init__ here, or every `Instrumentor()` call
    # would forget what the first one patched.
    _patched: list[tuple[Any, str]] = []  # noqa: RUF012 - replaced per instance in _instrument

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        self._patched = apply_patches(self.PATCHES, kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        remove_patches(self._patched)
        self._patched = []
