"""Constants both ends of the HTTP API agree on: paths, header names and long-poll limits."""

from __future__ import annotations

#: every route of the JSON API lives under this path
API_PREFIX = "/api/v1"
#: names the namespace a request works in (without API keys), and tells the client which one it got
NAMESPACE_HEADER = "x-aiki-namespace"
#: a claim waits at most this long at the server for work before answering with nothing
MAX_CLAIM_WAIT_MS = 30_000
#: a wait for a run's change answers after this long at most; clients simply ask again
MAX_CHANGE_WAIT_MS = 60_000
#: how long one claim request of a worker asks the server to wait for work
CLAIM_LONG_POLL_MS = 20_000
