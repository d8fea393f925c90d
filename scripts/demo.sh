#!/usr/bin/env bash
# The main job: install aiki and run the demo workflow on the embedded SQLite default, to its result.
# The demo needs the core only; the server extra is installed for the README's dashboard commands
# (`.venv/bin/aiki server`, `aiki worker ... --url`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh server
exec .venv/bin/python examples/quickstart.py "$@"
