"""The ``redis_url`` and ``redis_prefix`` server options are checked when the server is created."""

from __future__ import annotations

import sys

import pytest

from aiki import ConfigurationError, database, server


def make_server(**opts: object) -> None:
    server(db=database("sqlite:///never-opened.db"), opts=opts)


def test_a_redis_url_of_another_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="must be a Redis URL"):
        make_server(redis_url="http://127.0.0.1:6379")


def test_an_empty_redis_prefix_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="redis_prefix"):
        make_server(redis_url="redis://127.0.0.1:6379/0", redis_prefix="")


def test_a_redis_url_without_the_redis_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)

    with pytest.raises(ConfigurationError, match=r"pip install 'aiki\[redis\]'"):
        make_server(redis_url="redis://127.0.0.1:6379/0")


def test_a_server_without_redis_url_does_not_need_the_redis_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)

    make_server()
