"""The evaluation names an SLO file may use.

The core owns the list and the processor fills it: :func:`mre.processor.scorers.register` declares
each scorer's name here, so a scorer added to that registry is known to SLO files without the core
importing anything above it (dependencies flow one way, DESIGN.md). Reading SLO files therefore needs
the scorers loaded (``import mre.processor.scorers``, which anything that scores does); before that
the list is empty and reading one says so instead of calling every name unknown.
"""

from __future__ import annotations

_DECLARED: dict[str, None] = {}  # insertion-ordered: error messages list names as registered


def declare(name: str) -> None:
    _DECLARED[name] = None


def withdraw(name: str) -> None:
    _DECLARED.pop(name, None)


def known() -> frozenset[str]:
    """Every declared evaluation name (empty until the scorers are loaded)."""
    return frozenset(_DECLARED)


NOT_LOADED = (
    "no evaluation names are registered: import mre.processor.scorers (the scorer registry declares "
    "them) before reading an SLO file"
)
