"""Identifiers: sortable by creation time, unique across processes."""

from __future__ import annotations

import os
import time


def new_id() -> str:
    """A 26-character id: 48 bits of milliseconds then 56 random bits, in lower-case hex."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(7).hex()}"
