"""The store: the database is the only source of truth (SQLite embedded, PostgreSQL to scale out)."""
