"""``run.logger``: a ``LoggerAdapter`` over the logger ``aiki.run`` that is silent while the handler replays,
so each line is logged once per run, not once per execution."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiki.execution.execution import Execution

#: the logger every run logs through; its records carry the ``extra`` fields ``aiki_run_id``,
#: ``aiki_workflow``, ``aiki_version`` and ``aiki_attempt``
RUN_LOGGER = "aiki.run"


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]  # generic only in typeshed, not at run time
    """Logs with the run's fields; emits nothing while recorded entries of the run remain unconsumed (the
    handler replays what an earlier execution already ran, and logged)."""

    def __init__(self, execution: Execution) -> None:
        run = execution.run
        super().__init__(
            logging.getLogger(RUN_LOGGER),
            {
                "aiki_run_id": run.id,
                "aiki_workflow": run.name,
                "aiki_version": run.version_id,
                "aiki_attempt": run.attempts,
            },
        )
        self._execution = execution

    def isEnabledFor(self, level: int) -> bool:
        return not self._execution.replaying() and self.logger.isEnabledFor(level)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the run's fields to the ``extra`` the call gives (the call's own keys win)."""
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs
