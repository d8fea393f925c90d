"""Helpers for testing your workflows: a fake clock to skip time instead of sleeping.

Example:
    clock = FakeClock()
    srv = server(db=database("sqlite:///test.db"), clock=clock)   # runtime not started
    ...                                                          # the run reaches run.sleep("wait", {"days": 3})
    clock.advance(3 * 24 * 3600 * 1000)
    await srv.runtime.tick()                                     # fires what is due now: the run wakes
"""

from aiki.clock import FakeClock

__all__ = ["FakeClock"]
