"""``aiki keys create|list|revoke``: API keys, administered directly on the database."""

from __future__ import annotations

import argparse

from aiki.cli.connect import open_server
from aiki.cli.tables import format_time, render_table


async def run_keys(arguments: argparse.Namespace) -> int:
    async with open_server(arguments.db) as srv:
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
