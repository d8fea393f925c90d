#!/usr/bin/env bash
# The whole check: install what the tests need, start PostgreSQL and Redis if needed, install Chromium for
# the dashboard's browser tests if missing, then ruff (format + lint), mypy --strict and the full pytest
# suite on SQLite AND PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
bash scripts/services.sh
bash scripts/browser.sh
export AIKI_TEST_BACKENDS="${AIKI_TEST_BACKENDS:-sqlite,postgres}"
.venv/bin/ruff format --check src tests examples benchmarks
.venv/bin/ruff check src tests examples benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
