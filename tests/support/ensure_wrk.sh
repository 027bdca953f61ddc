#!/usr/bin/env bash
# Makes sure wrk (Debian's C HTTP load generator) is installed: `make bench` drives every HTTP
# benchmark with it and tests/benchmarks_tests runs it briefly. Idempotent: does nothing when
# wrk is already on the PATH.
set -euo pipefail

if command -v wrk >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "wrk is not installed; as root run: apt-get update && apt-get install -y wrk" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends wrk >/dev/null
