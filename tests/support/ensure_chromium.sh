#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver are installed: the dashboard's browser test
# (and the end-to-end tests) drive them through selenium. Idempotent: does nothing when both
# are already there.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
"$(dirname "$0")/apt_install.sh" "Chromium" chromium chromium-driver
