"""The PostgreSQL backend (the ``postgres`` extra: psycopg and psycopg-pool)."""

from aiki.extras import require

# One clear error for every way in (``database("postgresql://...")``, or an import of this package).
for _module in ("psycopg", "psycopg_pool"):
    require(_module, "postgres", "PostgreSQL (database('postgresql://...'))")
