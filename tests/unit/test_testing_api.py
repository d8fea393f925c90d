"""The public names of ``aiki.testing``: pinned and sorted, each one real and documented."""

from __future__ import annotations

import aiki.testing

TESTING_API = [
    "Environment",
    "FakeClock",
    "ReplayCheckReport",
    "ReplayOutcome",
    "RunReplayResult",
    "check_replay",
    "environment",
]


def test_the_testing_names_are_exactly_the_pinned_sorted_list() -> None:
    assert aiki.testing.__all__ == TESTING_API == sorted(TESTING_API)


def test_every_testing_name_exists_and_has_a_docstring() -> None:
    for name in aiki.testing.__all__:
        assert (getattr(aiki.testing, name).__doc__ or "").strip(), name


def test_the_fake_clock_of_aiki_testing_is_the_one_of_aiki() -> None:
    assert aiki.testing.FakeClock is aiki.FakeClock
