#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries (initdb, pg_ctl) are installed: the store tests start
# a throwaway server of their own. Idempotent: does nothing when initdb is already there.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; then
    exit 0
fi
"$(dirname "$0")/apt_install.sh" "PostgreSQL" postgresql
