"""Identifiers: sortable by creation time, unique across processes, increasing within a process."""

from __future__ import annotations

import os
import secrets
import threading
import time

_RANDOM_BITS = 56
_lock = threading.Lock()
#: the last id's millisecond and random part: ids made in the same millisecond count up from it
_last = [0, 0]


def new_id() -> str:
    """A 26-character id: 48 bits of milliseconds then 56 bits, in lower-case hex.

    The 56 bits are random for the first id of a millisecond and count up after it (by a random step),
    so the ids of one process sort in the order they were made; across processes they sort by millisecond.
    """
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        last_ms, last_random = _last
        if now_ms <= last_ms:
            now_ms = last_ms
            random_part = last_random + 1 + int.from_bytes(os.urandom(2), "big")
            if random_part >= 1 << _RANDOM_BITS:
                now_ms, random_part = now_ms + 1, int.from_bytes(os.urandom(6), "big")
        else:
            # Leave headroom so the ids of a busy millisecond can count up without overflowing.
            random_part = int.from_bytes(os.urandom(6), "big")
        _last[0], _last[1] = now_ms, random_part
    return f"{now_ms:012x}{random_part:014x}"


def new_secret() -> str:
    """A 32-character random token nobody can guess (128 bits): claim tokens fence a worker's writes by
    themselves, with no other condition that an index could be used for."""
    return secrets.token_hex(16)
