"""API keys: each binds its holder to one namespace. Stored as SHA-256 hashes; the secret is shown once.

Example:
    key_id, secret = await create_key(srv, "acme", "billing workers")
    c = client(url="http://localhost:9850", api_key=secret)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiki.errors import InvalidOptionError, NotFoundError
from aiki.ids import new_id

if TYPE_CHECKING:
    from aiki.server.server import Server

DEFAULT_NAMESPACE = "default"
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_KEY_COLUMNS = "id, namespace, name, created_at_ms, revoked_at_ms"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored (its secret is not: only its hash)."""

    id: str
    namespace: str
    name: str
    created_at_ms: int
    revoked_at_ms: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at_ms is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "namespace": self.namespace,
            "name": self.name,
            "created_at_ms": self.created_at_ms,
            "revoked_at_ms": self.revoked_at_ms,
        }


def check_namespace(namespace: object) -> str:
    """``namespace`` if it is a valid namespace name, else :class:`InvalidOptionError`."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise InvalidOptionError(
            f"Namespace {namespace!r} is not valid: use 1 to 100 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit."
        )
    return namespace


def hash_secret(secret: str) -> str:
    """The stored form of a key's secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


async def create_key(server: Server, namespace: str, name: str) -> tuple[str, str]:
    """Create a key for ``namespace``; returns ``(key_id, secret)``. The secret cannot be shown again.

    Args:
        namespace: the namespace the key's holder works in (created implicitly by its first run).
        name: what the key is for, shown by ``list_keys`` (e.g. ``"billing workers"``).
    """
    check_namespace(namespace)
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or "\x00" in name:
        raise InvalidOptionError(
            f"An API key needs a name of 1 to 200 characters (what it is for), got {name!r}."
        )
    key_id = new_id()
    secret = f"aiki_{key_id}_{secrets.token_urlsafe(32)}"
    async with server.core.write() as (connection, _changes):
        await connection.execute(
            "INSERT INTO api_keys (id, namespace, name, key_hash, created_at_ms, revoked_at_ms) "
            "VALUES (?, ?, ?, ?, ?, NULL)",
            (key_id, namespace, name, hash_secret(secret), server.clock.now_ms()),
        )
    return key_id, secret


async def list_keys(server: Server, namespace: str | None = None) -> list[ApiKey]:
    """Every key (of ``namespace`` when given), revoked ones included, oldest first."""
    sql = f"SELECT {_KEY_COLUMNS} FROM api_keys"
    params: tuple[str, ...] = ()
    if namespace is not None:
        sql += " WHERE namespace = ?"
        params = (namespace,)
    async with server.core.read() as connection:
        rows = await connection.fetch_all(sql + " ORDER BY created_at_ms, id", params)
    return [_key_from_row(row) for row in rows]


async def revoke_key(server: Server, key_id: str) -> ApiKey:
    """Revoke a key: requests carrying it are refused from now on. Revoking twice changes nothing."""
    async with server.core.write() as (connection, _changes):
        await connection.execute(
            "UPDATE api_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL",
            (server.clock.now_ms(), key_id),
        )
        row = await connection.fetch_one(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
    if row is None:
        raise NotFoundError("API key", key_id, "List the keys with `aiki keys list`.")
    return _key_from_row(row)


async def find_key(server: Server, secret: str) -> ApiKey | None:
    """The key whose secret this is, revoked or not; ``None`` for a secret no key has."""
    async with server.core.read() as connection:
        row = await connection.fetch_one(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?", (hash_secret(secret),)
        )
    return None if row is None else _key_from_row(row)


async def keys_required(server: Server) -> bool:
    """Whether any unrevoked key exists: then every HTTP request must carry one."""
    async with server.core.read() as connection:
        row = await connection.fetch_one("SELECT id FROM api_keys WHERE revoked_at_ms IS NULL LIMIT 1")
    return row is not None


def _key_from_row(row: dict[str, Any]) -> ApiKey:
    revoked = row["revoked_at_ms"]
    return ApiKey(
        id=str(row["id"]),
        namespace=str(row["namespace"]),
        name=str(row["name"]),
        created_at_ms=int(row["created_at_ms"]),
        revoked_at_ms=None if revoked is None else int(revoked),
    )
