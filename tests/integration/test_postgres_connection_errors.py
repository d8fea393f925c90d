"""A PostgreSQL server that cannot be reached is a clear configuration error, not a driver traceback."""

from __future__ import annotations

import socket

import pytest

from aiki import ConfigurationError, database


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_opening_an_unreachable_postgresql_names_the_url_without_its_password() -> None:
    db = database(f"postgresql://aiki:secret@127.0.0.1:{closed_port()}/aiki")

    with pytest.raises(ConfigurationError, match=r"Cannot connect to PostgreSQL at .*aiki:\*\*\*@") as raised:
        await db.open()

    assert "secret" not in str(raised.value)
