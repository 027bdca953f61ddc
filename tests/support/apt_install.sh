#!/usr/bin/env bash
# Installs Debian packages that a test or benchmark needs; the ensure_*.sh scripts call it once
# they have found their tool missing. Usage: apt_install.sh "WHAT" PACKAGE...
set -euo pipefail

what=$1
shift
if [ "$(id -u)" -ne 0 ]; then
    echo "$what is not installed; as root run: apt-get update && apt-get install -y $*" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
