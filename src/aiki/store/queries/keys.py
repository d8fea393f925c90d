"""The ``api_keys`` table: keys bind their holder to a namespace; only the secret's hash is stored."""

from __future__ import annotations

from aiki.store.queries.base import QueryBase
from aiki.store.rows import KEY_COLUMNS, key_from_row
from aiki.types import ApiKey

#: the flag set when the first key is created
KEYS_REQUIRED = "keys_required"


class KeyQueries(QueryBase):
    async def insert_key(self, key: ApiKey, key_hash: str) -> None:
        """Store the key, and the fact that keys are required from now on (set once, never cleared)."""
        await self._execute(
            "INSERT INTO api_keys (id, namespace, name, key_hash, created_at_ms, revoked_at_ms) "
            "VALUES (?, ?, ?, ?, ?, NULL)",
            (key.id, key.namespace, key.name, key_hash, key.created_at_ms),
        )
        await self._execute(
            "INSERT INTO server_flags (name, set_at_ms) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (KEYS_REQUIRED, key.created_at_ms),
        )

    async def list_keys(self, namespace: str | None) -> list[ApiKey]:
        """Every key (of ``namespace`` when given), revoked ones included, oldest first."""
        where = " WHERE namespace = ?" if namespace is not None else ""
        rows = await self._fetch_all(
            f"SELECT {KEY_COLUMNS} FROM api_keys{where} ORDER BY created_at_ms, id",
            () if namespace is None else (namespace,),
        )
        return [key_from_row(row) for row in rows]

    async def revoke_key(self, key_id: str, now_ms: int) -> ApiKey | None:
        """Revoke the key (revoking twice changes nothing); ``None`` if there is no such key."""
        await self._execute(
            "UPDATE api_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL", (now_ms, key_id)
        )
        row = await self._fetch_one(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
        return None if row is None else key_from_row(row)

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = await self._fetch_one(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?", (key_hash,))
        return None if row is None else key_from_row(row)

    async def keys_required(self) -> bool:
        """Whether a key was ever created here (revoking every key since changes nothing)."""
        row = await self._fetch_one("SELECT set_at_ms FROM server_flags WHERE name = ?", (KEYS_REQUIRED,))
        return row is not None
