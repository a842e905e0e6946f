#!/bin/sh
# Compiles the Java logger and its test into a temporary directory and runs the test, which
# starts a real `hivelog serve` (HIVELOG_BIN, default: the repo's .venv) on a free port.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${HIVELOG_BIN:=$here/../../.venv/bin/hivelog}"
export HIVELOG_BIN
out=$(mktemp -d "${TMPDIR:-/tmp}/hivelog-java.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
javac --release 17 -Xlint:all -Werror -d "$out" "$here/HivelogLogger.java" "$here/HivelogLoggerTest.java"
cd "$here"
java -cp "$out" hivelog.HivelogLoggerTest
