#!/usr/bin/env bash
# Makes sure wrk (Debian's C HTTP load generator) is installed: `make bench` drives every HTTP
# benchmark with it and tests/benchmarks_tests runs it briefly. Idempotent: does nothing when
# wrk is already on the PATH.
set -euo pipefail

if command -v wrk >/dev/null; then
    exit 0
fi
"$(dirname "$0")/apt_install.sh" "wrk" wrk
