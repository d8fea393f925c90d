"""The type variables of aiki's generic public types.

A task or workflow version is generic in its input and its output (``Task[InputT, OutputT]``), read from the
handler's signature; a handle is generic in the output of its run (``WorkflowRunHandle[OutputT]``). Each
defaults to ``Any``, so a bare ``Task`` or ``WorkflowRunHandle`` in an annotation means "any input, any
output" and passes ``mypy --strict``.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypeVar

InputT = TypeVar("InputT", default=Any)
"""The input a task or workflow version takes."""

OutputT = TypeVar("OutputT", default=Any)
"""The output a task or workflow version returns (and a handle's run completes with)."""
