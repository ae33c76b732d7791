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
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
CACHES: list[Callable[..., Any]] = []  # every cache, for the benchmark's cold runs and the health metrics


def _chars(key: Any) -> int:
    if isinstance(key, str):
        return len(key)
    if isinstance(key, tuple):
        total = 8 * len(key)
        for k in key:  # a loop, not a generator: this sizes every key the hot path stores
            total += len(k) if type(k) is str else _chars(k)
        return total
    return 16


def text_cache(max_entries: int, max_chars: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        entries: OrderedDict[Hashable, tuple[R, int]] = OrderedDict()
        state = {"chars": 0, "evictions": 0}
        lock = threading.Lock()

        @functools.wraps(fn)
        def cached(*args: P.args, **kwargs: P.kwargs) -> R:
            key: Hashable = args if not kwargs else (args, tuple(sorted(kwargs.items())))
            with lock:
                hit = entries.get(key)
                if hit is not None:
                    entries.move_to_end(key)
                    return hit[0]
            value = fn(*args, **kwargs)
            size = _chars(args) + 64
            if size > max_chars:
                return value  # bigger than the whole cache: computed, not kept
            with lock:
                if key not in entries:
                    entries[key] = (value, size)
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
