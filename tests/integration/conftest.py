"""Fixtures of the integration suite beyond the shared ones: ``transport_env`` (embedded and HTTP)."""

from tests.transport_support import transport_env

__all__ = ["transport_env"]
