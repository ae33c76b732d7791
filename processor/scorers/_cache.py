"""Memoization of per-text analysis (a document's sentences and units, a sentence's analysis), bounded
in entries *and* in characters. What one interaction's scorers share is its analysis
(``analysis.InteractionAnalysis``), never these: they only spare recomputing texts that recur.

Retrieved chunks recur across answers, so their sentences are analysed once; but an entry bound
alone lets distinct large texts (hostile or not) hold gigabytes. Each cache here holds at most
``max_entries`` results and ``max_chars`` characters of keys (a result's size is proportional to its
text); the least recently used go first, and every eviction is counted (``evictions``).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")
CACHES: list[Callable[..., Any]] = []  # every cache, for the benchmark's cold runs and the health metrics
_ENTRY_CHARS = 64  # what an entry costs beyond its text (the result is proportional to the text)


def text_cache(max_entries: int, max_chars: int) -> Callable[[Callable[[str], R]], Callable[[str], R]]:
    """Memoize a function of one text, keyed by the text itself (no key tuple to build and size)."""

    def decorate(fn: Callable[[str], R]) -> Callable[[str], R]:
        entries: OrderedDict[str, tuple[R, int]] = OrderedDict()
        state = {"chars": 0, "evictions": 0}
        lock = threading.Lock()  # for the writes; a hit reads without it (below)

        @functools.wraps(fn)
        def cached(text: str) -> R:
            # A hit is one C-level dict read and a reorder, atomic under the GIL as functools.lru_cache
            # relies on; the entry may be evicted meanwhile by another thread, which only costs its
            # recency. The scorers ask these caches ~30 times per answer.
            hit = entries.get(text)
            if hit is not None:
                try:  # noqa: SIM105 (contextlib.suppress costs a context manager per hit)
                    entries.move_to_end(text)
                except KeyError:
                    pass
                return hit[0]
            value = fn(text)
            size = len(text) + _ENTRY_CHARS
            if size > max_chars:
                return value  # bigger than the whole cache: computed, not kept
            with lock:
                if text not in entries:
                    entries[text] = (value, size)
                    state["chars"] += size
                    while len(entries) > max_entries or state["chars"] > max_chars:
                        _, (_, dropped) = entries.popitem(last=False)
                        state["chars"] -= dropped
                        state["evictions"] += 1
            return value

        def cache_clear() -> None:
            with lock:
                entries.clear()
                state["chars"] = 0

        def cache_info() -> dict[str, int]:
            with lock:
                return {"entries": len(entries), "chars": state["chars"], "evictions": state["evictions"]}

        cached.cache_clear = cache_clear  # type: ignore[attr-defined]
        cached.cache_info = cache_info  # type: ignore[attr-defined]
        CACHES.append(cached)
        return cached

    return decorate


_MEMOS: list[Callable[..., Any]] = []  # functools caches bounded by their owner (no char accounting)


def clear_with_caches(memo: Callable[..., Any]) -> None:
    """Have ``clear_all`` clear a functools cache too (its owner bounds it in entries and bytes)."""
    _MEMOS.append(memo)


def clear_all() -> None:
    for cache in (*CACHES, *_MEMOS):
        cache.cache_clear()  # type: ignore[attr-defined]
