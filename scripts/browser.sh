#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser tests (Playwright drives /usr/bin/chromium;
# `playwright install` is not used: it downloads browsers). Does nothing when Chromium is there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Chromium is missing at /usr/bin/chromium; install it as root: apt-get update && apt-get install -y chromium" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "apt-get installed no /usr/bin/chromium" >&2; exit 1; }
