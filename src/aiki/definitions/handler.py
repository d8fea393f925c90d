"""Calling user handlers: async or plain ``def`` (run in a thread), with or without parameters."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from aiki.errors import ConfigurationError


def count_parameters(handler: Callable[..., Any], what: str, maximum: int) -> int:
    """How many positional arguments ``handler`` takes (at most ``maximum``)."""
    if not callable(handler):
        raise ConfigurationError(f"The handler of {what} must be a function, got {handler!r}.")
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return maximum
    positional = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    if any(parameter.kind is parameter.VAR_POSITIONAL for parameter in signature.parameters.values()):
        return maximum
    required = [parameter for parameter in positional if parameter.default is parameter.empty]
    if len(required) > maximum:
        raise ConfigurationError(
            f"The handler of {what} takes {len(required)} required arguments; it may take at most {maximum}."
        )
    return min(len(positional), maximum)


async def call_handler(handler: Callable[..., Any], arguments: tuple[Any, ...]) -> Any:
    """Await an async handler; run a plain ``def`` in a worker thread so the event loop never blocks."""
    if inspect.iscoroutinefunction(handler):
        return await handler(*arguments)
    result = await asyncio.to_thread(handler, *arguments)
    if inspect.isawaitable(result):
        return await result
    return result
