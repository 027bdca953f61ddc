#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver are installed: the dashboard's browser test
# (and the end-to-end tests) drive them through selenium. Idempotent: does nothing when both
# are already there.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Chromium is not installed; as root run: apt-get update && apt-get install -y chromium chromium-driver" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
