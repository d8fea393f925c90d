"""API keys: each binds its holder to one namespace. Stored as SHA-256 hashes; the secret is shown once.

Example:
    key_id, secret = await srv.keys.create("acme", "billing workers")
    c = client(url="http://localhost:9850", api_key=secret)
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time

from aiki.errors import InvalidOptionError, NotFoundError
from aiki.ids import new_id
from aiki.server.engine.core import ServerCore
from aiki.types import ApiKey

DEFAULT_NAMESPACE = "default"
#: while keys are not required, how long the server trusts that answer before asking the database again
#: (each HTTP request asks it)
KEYS_RECHECK_S = 1.0
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


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


class KeyCommands:
    """``srv.keys``: create, list and revoke API keys; find the key of a secret."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        #: keys, once required, stay required: no need to ask the database again
        self._required = False
        #: while they are not, when the database was last asked (``time.monotonic``)
        self._asked_at: float | None = None

    async def create(self, namespace: str, name: str) -> tuple[str, str]:
        """Create a key for ``namespace``; returns ``(key_id, secret)``. The secret cannot be shown again.

        Args:
            namespace: the namespace the key's holder works in (created implicitly by its first run).
            name: what the key is for, shown by ``list`` (e.g. ``"billing workers"``).
        """
        check_namespace(namespace)
        if not isinstance(name, str) or not name.strip() or len(name) > 200 or "\x00" in name:
            raise InvalidOptionError(
                f"An API key needs a name of 1 to 200 characters (what it is for), got {name!r}."
            )
        key = ApiKey(id=new_id(), namespace=namespace, name=name, created_at_ms=self.core.clock.now_ms())
        secret = f"aiki_{key.id}_{secrets.token_urlsafe(32)}"
        async with self.core.write() as (connection, _changes):
            await connection.insert_key(key, hash_secret(secret))
        self._required = True
        return key.id, secret

    async def list(self, namespace: str | None = None) -> list[ApiKey]:
        """Every key (of ``namespace`` when given), revoked ones included, oldest first."""
        async with self.core.read() as connection:
            return await connection.list_keys(namespace)

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key: requests carrying it are refused from now on. Revoking twice changes nothing."""
        async with self.core.write() as (connection, _changes):
            key = await connection.revoke_key(key_id, self.core.clock.now_ms())
        if key is None:
            raise NotFoundError("API key", key_id, "List the keys with `aiki keys list`.")
        return key

    async def find(self, secret: str) -> ApiKey | None:
        """The key whose secret this is, revoked or not; ``None`` for a secret no key has."""
        async with self.core.read() as connection:
            return await connection.key_by_hash(hash_secret(secret))

    async def required(self) -> bool:
        """Whether every HTTP request must carry a key: the server option ``auth`` (``"keys"`` or
        ``"open"``) decides; without it, keys are required once any key was ever created here, revoked or
        not (revoking the last key never opens the server again)."""
        auth = self.core.settings.auth
        if auth is not None:
            return auth == "keys"
        if self._required:
            return True
        now = time.monotonic()
        if self._asked_at is None or now - self._asked_at >= KEYS_RECHECK_S:
            # A key created through another process (or `aiki keys create` on the database) is seen within
            # KEYS_RECHECK_S; one created through this server at once (``create``).
            async with self.core.read() as connection:
                self._required = await connection.keys_required()
            self._asked_at = now
        return self._required

    async def describe_mode(self) -> str:
        """How this server authenticates, in a sentence (``aiki server`` prints it when it starts)."""
        auth = self.core.settings.auth
        if await self.required():
            why = "--auth keys" if auth == "keys" else "a key was created"
            return f"auth: API keys required ({why}); create one with `aiki keys create`"
        if auth == "open":
            return "auth: open (--auth open): requests need no key; a key, if sent, is checked"
        return (
            "auth: open until the first API key is created (`aiki keys create`); keys are required from then "
            "on, even after every key is revoked. Pass --auth keys to require them from the start"
        )
