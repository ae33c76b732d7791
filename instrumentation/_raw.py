"""The raw-response call shapes of the Stainless SDKs (``openai``, ``anthropic``).

``client.chat.completions.with_raw_response.create(...)`` (what langchain-openai and
langchain-anthropic call) returns a ``LegacyAPIResponse`` whose ``parse()`` gives the usual result;
``with_streaming_response`` returns an ``APIResponse`` whose body is read only when the app asks.
Both reach our wrapper of ``create`` with the raw object as the result.

- Raw, not streamed, sync: the body is already read and ``parse()`` caches what it returns, so we
  parse once ourselves and the app gets the very same object from its own call.
- Async (``parse()`` is a coroutine there), raw and streamed: ``parse()`` is proxied;
  likewise for a streamed raw response or a streaming response: what ``parse()`` returns ends the span
  (a stream is handed back traced). An app that reads the body itself (``iter_lines``) gets its span
  ended at ``close()`` with no output recorded: the processor counts that answer as not captured.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import wrapt

from mre.instrumentation._guard import never_raise

OnParsed = Callable[[Any], Any]  # the parsed result -> what the app gets (the result, or a traced stream)
OnClosed = Callable[[], None]


def is_raw_response(result: Any) -> bool:
    return hasattr(result, "http_response") and callable(getattr(result, "parse", None))


def _body_read(result: Any) -> bool:
    """Whether the response body is already in memory (a legacy raw response, or an APIResponse whose
    HTTP response is closed after reading), so that parsing it costs the app nothing."""
    if not callable(getattr(result, "iter_lines", None)):
        return True  # openai's LegacyAPIResponse: read eagerly
    return bool(getattr(getattr(result, "http_response", None), "is_closed", False))


@never_raise(None)
def _eager_parse(result: Any) -> Any:
    return result.parse()


def wrap_raw(result: Any, streamed: bool, on_parsed: OnParsed, on_closed: OnClosed) -> Any:
    """What the app gets back instead of ``result``."""
    asynchronous = inspect.iscoroutinefunction(getattr(type(result), "parse", None))
    if not streamed and not asynchronous and _body_read(result):
        parsed = _eager_parse(result)  # cached by the SDK: the app's own parse() returns this object
        if parsed is None:
            on_closed()
        else:
            on_parsed(parsed)
        return result
    if asynchronous:
        return _AsyncRawResponse(result, on_parsed, on_closed)
    return _RawResponse(result, on_parsed, on_closed)


class _RawState:
    def __init__(self, on_parsed: OnParsed, on_closed: OnClosed) -> None:
        self.on_parsed, self.on_closed = on_parsed, on_closed
        self.finished = False
        self.handed: Any = None  # what the first parse() handed back: later calls get the same object

    def parsed(self, value: Any) -> Any:
        if self.finished:
            return self.handed if self.handed is not None else value
        self.finished = True
        handed = _safe_on_parsed(self.on_parsed, value)
        self.handed = handed if handed is not None else value
        return self.handed

    @never_raise(None)
    def closed(self) -> None:
        if not self.finished:
            self.finished = True
            self.on_closed()


@never_raise(None)
def _safe_on_parsed(on_parsed: OnParsed, value: Any) -> Any:
    return on_parsed(value)


class _RawResponse(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, on_parsed: OnParsed, on_closed: OnClosed) -> None:
        super().__init__(wrapped)
        self._self_state = _RawState(on_parsed, on_closed)

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        value = self.__wrapped__.parse(*args, **kwargs)
        if args or kwargs:  # parse(to=...) is the app's own reading: not the response we trace
            return value
        return self._self_state.parsed(value)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_state.closed()


class _AsyncRawResponse(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, on_parsed: OnParsed, on_closed: OnClosed) -> None:
        super().__init__(wrapped)
        self._self_state = _RawState(on_parsed, on_closed)

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        value = await self.__wrapped__.parse(*args, **kwargs)
        if args or kwargs:
            return value
        return self._self_state.parsed(value)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_state.closed()
