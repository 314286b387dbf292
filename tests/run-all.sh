#!/usr/bin/env bash
# The README's test command: every test of the project, in order of cost.
#   1. Rust unit and integration tests (real Git servers on 127.0.0.1, Kestra API stub)
#   2. the plugin jar (Gradle runs cargo) and the Java tests on Java 25 (incl. JNI)
#   3. end to end on a real Kestra with the jar in its plugins folder
# Each stage prints its own progress; the first failure stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA25_HOME=${JAVA25_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}

stage() { printf '\n=== [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

stage "1/3 Rust tests (cargo test --release)"
cargo test --release --workspace

stage "2/3 plugin jar and Java tests (gradle)"
gradle --no-daemon -q build javaTest

stage "3/3 end to end (tests/e2e/run.sh)"
bash tests/e2e/run.sh

stage "all stages passed"
