"""Each interaction analysed once: what the scorers read of one answer (its documents and contexts,
the sentence index and units of its context, its claims' verdicts, the documents it rests on, its
faithfulness), computed on first use and handed to every scorer of that interaction.

The pipeline opens one :class:`InteractionAnalysis` per interaction (:func:`analysing`) for as long
as it scores it; a scorer reads it with :func:`analysis_of`. A scorer called on its own (a test,
``mre eval`` of one scorer) gets a fresh analysis, held until another interaction is analysed.
Nothing per interaction is shared across interactions: the only caches across them are the per-text
ones of recurring chunks (``_cache.text_cache``), a speed-up, never the channel between scorers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from mre.model import Document, Interaction
from mre.processor.scorers.text import is_abstention

T = TypeVar("T")

_CURRENT: ContextVar[InteractionAnalysis | None] = ContextVar("mre_interaction_analysis", default=None)


class InteractionAnalysis:
    """One interaction's shared readings, each built once (``part``)."""

    __slots__ = ("_parts", "held", "interaction")

    def __init__(self, interaction: Interaction, held: bool = False) -> None:
        self.interaction = interaction
        self.held = held  # opened by :func:`analysing` (the pipeline): never displaced by another
        self._parts: dict[str, Any] = {}

    def part(self, name: str, build: Callable[[], T]) -> T:
        """The reading ``name`` of this interaction, built by ``build`` the first time it is asked for."""
        parts = self._parts
        if name in parts:
            return parts[name]
        value = parts[name] = build()
        return value

    @property
    def documents(self) -> list[Document] | None:
        return self.part("documents", lambda: self.interaction.documents)

    @property
    def contexts(self) -> tuple[str, ...] | None:
        """:attr:`Interaction.contexts` (its rule for what was not captured), as a tuple."""

        def build() -> tuple[str, ...] | None:
            texts = self.interaction.contexts
            return None if texts is None else tuple(texts)

        return self.part("contexts", build)

    @property
    def abstains(self) -> bool:
        """Whether the answer declines to answer (False when no answer was captured)."""
        answer = self.interaction.answer
        return self.part("abstains", lambda: answer is not None and is_abstention(answer))


def analysis_of(interaction: Interaction) -> InteractionAnalysis:
    """The analysis held for ``interaction``: the pipeline's while it scores it; for a scorer called on
    its own, a fresh one, kept (in this context) until another interaction is analysed, so that what
    that scorer asks of its parts (faithfulness asks the verdicts, which ask the index) is built once."""
    current = _CURRENT.get()
    if current is not None and current.interaction is interaction:
        return current
    analysis = InteractionAnalysis(interaction)
    if current is None or not current.held:
        _CURRENT.set(analysis)
    return analysis


def hold(analysis: InteractionAnalysis) -> Token[InteractionAnalysis | None]:
    """Make ``analysis`` the one held (what :func:`analysing` does, without a context manager: the
    pipeline's batches switch between interactions once per scorer and answer)."""
    return _CURRENT.set(analysis)


def let_go(token: Token[InteractionAnalysis | None]) -> None:
    _CURRENT.reset(token)


@contextmanager
def analysing(interaction: Interaction) -> Iterator[InteractionAnalysis]:
    """Hold one analysis of ``interaction`` while its scorers run."""
    analysis = InteractionAnalysis(interaction, held=True)
    token = hold(analysis)
    try:
        yield analysis
    finally:
        let_go(token)
