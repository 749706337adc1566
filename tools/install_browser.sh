#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (playwright drives /usr/bin/chromium; it cannot
# download its own browser here). Needs root + apt; elsewhere it says what is missing and returns 0,
# and the browser tests then fail with that reason unless GLACIERLAB_SKIP_BROWSER=1 is set.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install_browser: /usr/bin/chromium missing and cannot apt-get it (need root + apt)." >&2
  exit 0
fi
echo "install_browser: installing Debian chromium (once per machine)..."
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
  || echo "install_browser: apt-get install chromium failed" >&2
