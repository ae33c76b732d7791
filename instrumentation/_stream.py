"""Streams that end their span when consumed, closed, abandoned through ``with``, or broken.

The application keeps the SDK's own stream type (a wrapt ObjectProxy); our state lives in ``_self_*``
fields, and every hook is guarded so a bug here never reaches the app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wrapt

from mre.instrumentation._genai import GenAICall
from mre.instrumentation._guard import never_raise

OnItem = Callable[[Any], None]
OnDone = Callable[[], dict[str, Any]]


class _StreamState:
    def __init__(self, call: GenAICall, on_item: OnItem, on_done: OnDone) -> None:
        self.call, self.on_item, self.on_done = call, on_item, on_done
        self.finished = False

    @never_raise(None)
    def item(self, item: Any) -> None:
        self.on_item(item)

    @never_raise(None)
    def finish(self, exc: BaseException | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        if exc is not None:
            self.call.fail(exc)
            return
        self.call.set(self.on_done())
        self.call.end()


class TracedStream(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, call: GenAICall, on_item: OnItem, on_done: OnDone) -> None:
        super().__init__(wrapped)
        self._self_state = _StreamState(call, on_item, on_done)

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self.__wrapped__)
        except StopIteration:
            self._self_state.finish()
            raise
        except Exception as exc:
            self._self_state.finish(exc)
            raise
        self._self_state.item(item)
        return item

    def __enter__(self) -> TracedStream:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_state.finish(exc if isinstance(exc, Exception) else None)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_state.finish()


class TracedAsyncStream(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, call: GenAICall, on_item: OnItem, on_done: OnDone) -> None:
        super().__init__(wrapped)
        self._self_state = _StreamState(call, on_item, on_done)

    def __aiter__(self) -> TracedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_state.finish()
            raise
        except Exception as exc:
            self._self_state.finish(exc)
            raise
        self._self_state.item(item)
        return item

    async def __aenter__(self) -> TracedAsyncStream:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return await exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_state.finish(exc if isinstance(exc, Exception) else None)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_state.finish()
