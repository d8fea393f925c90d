"""The PostgreSQL backend's translation of portable SQL, and its URL checks (no server needed)."""

from __future__ import annotations

import pytest

from aiki import ConfigurationError, database
from aiki.store.postgres.connection import to_psycopg
from aiki.store.postgres.database import redact


def test_question_marks_become_psycopg_placeholders() -> None:
    assert to_psycopg("SELECT a FROM t WHERE b = ? AND c IN (?, ?)") == (
        "SELECT a FROM t WHERE b = %s AND c IN (%s, %s)"
    )


def test_a_question_mark_inside_a_literal_or_quoted_name_is_kept() -> None:
    assert to_psycopg("SELECT '?' AS \"why?\", x FROM t WHERE y = ?") == (
        "SELECT '?' AS \"why?\", x FROM t WHERE y = %s"
    )


def test_a_percent_sign_is_escaped_for_psycopg() -> None:
    assert to_psycopg("SELECT 1 WHERE name LIKE 'a%' AND n % 2 = ?") == (
        "SELECT 1 WHERE name LIKE 'a%%' AND n %% 2 = %s"
    )


def test_a_password_is_left_out_of_messages() -> None:
    assert redact("postgresql://aiki:secret@db:5432/aiki") == "postgresql://aiki:***@db:5432/aiki"


def test_a_pool_bound_below_one_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="max_connections"):
        database("postgresql://postgres@127.0.0.1/test", max_connections=0)
