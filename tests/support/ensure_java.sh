#!/usr/bin/env bash
# Makes sure a Java runtime that Spark 4 accepts (17 or newer) is installed: the population
# tests run PySpark, whose JVM needs one. Idempotent: does nothing when java 17+ answers.
set -euo pipefail

java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

if command -v java >/dev/null && [ "$(java_major)" -ge 17 ] 2>/dev/null; then
    exit 0
fi
# Debian 12's default JRE is 17, Debian 13's is 21: both run Spark 4.
"$(dirname "$0")/apt_install.sh" "Java 17+" default-jre-headless
