#!/usr/bin/env bash
# Install Debian's headless-capable Chromium (and chromedriver) for the browser test of
# report.html (tests/test_report_browser.py). Safe to run again: it does nothing when a
# Chromium binary is already on PATH. Needs root (or sudo) and apt; on other systems it
# fails and the browser test skips itself.
set -euo pipefail

for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get here; install Chromium yourself to run the browser test" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo -n"
  else
    echo "install-browser: need root (or sudo) to install chromium" >&2
    exit 1
  fi
fi

echo "install-browser: installing chromium (Debian package, about a minute)"
export DEBIAN_FRONTEND=noninteractive
# Quiet when it works; apt's full output is shown when it fails, as the only clue in CI.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-browser: apt-get failed" >&2
  exit 1
fi
command -v chromium >/dev/null
