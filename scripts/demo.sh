#!/usr/bin/env bash
# The main job: install aiki and run the demo workflow on the embedded SQLite default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python examples/quickstart.py "$@"
