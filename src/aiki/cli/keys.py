"""``aiki keys create|list|revoke``: API keys, administered directly on the database."""

from __future__ import annotations

import argparse
import os
from typing import Any

from aiki.cli.connect import open_server
from aiki.cli.tables import format_time, render_table


def add_keys_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="API keys (run against the database)")
    actions = keys.add_subparsers(dest="keys_action", required=True)
    create = actions.add_parser("create", help="create a key for a namespace")
    create.add_argument("--db", default=os.environ.get("AIKI_DB"), help="database URL (env AIKI_DB)")
    create.add_argument("--namespace", default="default")
    create.add_argument("--name", required=True, help="what the key is for")
    listing = actions.add_parser("list", help="list keys")
    listing.add_argument("--db", default=os.environ.get("AIKI_DB"), help="database URL (env AIKI_DB)")
    listing.add_argument("--namespace", default=None)
    revoke = actions.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--db", default=os.environ.get("AIKI_DB"), help="database URL (env AIKI_DB)")
    revoke.add_argument("key_id")


async def run_keys(arguments: argparse.Namespace) -> int:
    # Creating the first key may come before anything else (it creates the database); the others read it.
    async with open_server(arguments.db, create=arguments.keys_action == "create") as srv:
        action = arguments.keys_action
        if action == "create":
            key_id, secret = await srv.keys.create(arguments.namespace, arguments.name)
            print(f"created key {key_id} for namespace {arguments.namespace!r}")
            print(f"secret (shown once, store it now): {secret}")
            return 0
        if action == "list":
            keys = await srv.keys.list(arguments.namespace)
            print(
                render_table(
                    ["id", "namespace", "name", "created", "revoked"],
                    [
                        [
                            k.id,
                            k.namespace,
                            k.name,
                            format_time(k.created_at_ms),
                            format_time(k.revoked_at_ms),
                        ]
                        for k in keys
                    ],
                )
            )
            return 0
        await srv.keys.revoke(arguments.key_id)
        print(f"revoked key {arguments.key_id}")
        return 0
