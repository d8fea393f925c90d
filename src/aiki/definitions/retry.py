"""Retry policies, as users write them in definitions (``task(retry=...)``, ``.v(opts={"retry": ...})``).

The policy and its parser live in ``aiki.contract.retry``, so that the server checks a run's stored retry
option with the very code the SDK uses.
"""

from aiki.contract.retry import MAX_RETRY_DELAY_MS, RetryPolicy, RetryType, parse_retry

__all__ = ["MAX_RETRY_DELAY_MS", "RetryPolicy", "RetryType", "parse_retry"]
