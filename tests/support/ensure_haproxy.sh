#!/usr/bin/env bash
# Makes sure HAProxy is installed: the multi-replica tests put the real load balancer in front
# of the service's replicas. Idempotent: does nothing when haproxy is already there.
set -euo pipefail

if command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ]; then
    exit 0
fi
"$(dirname "$0")/apt_install.sh" "HAProxy" haproxy
# The package starts a system-wide HAProxy with its own configuration; the tests run their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet haproxy 2>/dev/null; then
    systemctl stop haproxy || true
fi
