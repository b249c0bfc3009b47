#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/e2e/test_timeline_page.py), which
# drive it through Playwright's Python package. Playwright's own browser download
# (`playwright install`) is never used: it fetches a build from outside the package
# registries. Needs root (or sudo) and Debian's package sources.
set -euo pipefail

BROWSER=/usr/bin/chromium

if [ -x "$BROWSER" ]; then
    echo "install-browser: $BROWSER is present ($("$BROWSER" --version 2>/dev/null || echo 'version unknown')); nothing to do"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-browser: $BROWSER is missing and installing it needs root (no sudo found)" >&2; exit 1; }
    SUDO="sudo"
fi

echo "install-browser: $BROWSER is missing; running apt-get update"
$SUDO apt-get update -q
echo "install-browser: running apt-get install -y --no-install-recommends chromium fonts-liberation fonts-dejavu-core"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium fonts-liberation fonts-dejavu-core
echo "install-browser: installed $("$BROWSER" --version)"
