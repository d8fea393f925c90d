"""Plain-text tables and times for the terminal: times are local, with their zone."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; an empty table says so."""
    if not rows:
        return "(none)"
    cells = [[str(cell) if cell is not None else "-" for cell in row] for row in rows]
    widths = [max(len(header), *(len(row[index]) for row in cells)) for index, header in enumerate(headers)]
    lines = ["  ".join(header.upper().ljust(width) for header, width in zip(headers, widths, strict=True))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def format_time(epoch_ms: int | None) -> str:
    """``2026-12-07 10:15:02 CET``: an epoch-milliseconds timestamp in the local time zone, named."""
    if epoch_ms is None:
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def format_ago(epoch_ms: int | None, now_ms: int | None = None) -> str:
    """``3m ago``, ``in 2h``: how far a timestamp is from now."""
    if epoch_ms is None:
        return "-"
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    delta_s = (now_ms - epoch_ms) / 1000
    span = abs(delta_s)
    for limit, unit, size in (
        (60, "s", 1),
        (3600, "m", 60),
        (86_400, "h", 3600),
        (float("inf"), "d", 86_400),
    ):
        if span < limit:
            amount = f"{int(span // size)}{unit}"
            break
    return f"{amount} ago" if delta_s >= 0 else f"in {amount}"
