#!/usr/bin/env bash
# The README's test command: every test of the project, cheapest first.
#   1. Rust unit tests and integration tests against real servers on 127.0.0.1 (lighttpd +
#      git http-backend over HTTPS with basic auth, sshd) and the Kestra API stub
#   2. the plugin jar (Gradle runs cargo) and the Java tests on Java 25, incl. the jar's JNI library
#   3. flows in Kestra 2.0's and 1.3's in-process runtimes with the jar loaded from a plugins folder
# The end-to-end suite on a real Kestra server is not here: Kestra's server artifacts (cli,
# webserver) are not served on these machines (README, "Limits").
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA25_HOME=${JAVA25_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

stage() { printf '\n=== [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

stage "1/3 Rust tests: cargo test --release --workspace, then clippy (warnings are errors)"
python3 tests/check-links.py --self-test; python3 tests/check-links.py  # README and docs/: every relative link and #anchor resolves
cargo test --release --workspace 2>&1 | tee "$logs/rust.log"
cargo clippy --release --workspace --all-targets -q -- -D warnings

stage "2/3 plugin jar and Java tests on Java 25: gradle build javaTest"
gradle --no-daemon -q :java-plugin:build :java-plugin:javaTest 2>&1 | tee "$logs/java.log"
unzip -l java-plugin/build/libs/kestra-git-backup-*.jar | grep -E 'native/linux-x86_64/libkestra_git_backup.so|META-INF/services/io.kestra.core.models.Plugin'

stage "3/3 Kestra 2.0 and 1.3 runtimes with the jar in a plugins folder: gradle kestraRuntimeTest kestra13RuntimeTest"
gradle --no-daemon -q :java-plugin:kestraRuntimeTest :java-plugin:kestra13RuntimeTest 2>&1 | tee -a "$logs/java.log"

rust_passed=$(grep -oE 'test result: ok\. [0-9]+ passed' "$logs/rust.log" | awk '{s+=$4} END {print s+0}')
rust_failed=$(grep -oE '[0-9]+ failed' "$logs/rust.log" | awk '{s+=$1} END {print s+0}')
java_passed=$(grep -oE '\[ *[0-9]+ tests successful' "$logs/java.log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
java_failed=$(grep -oE '\[ *[0-9]+ tests failed' "$logs/java.log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
stage "done"
echo "rust: ${rust_passed} passed, ${rust_failed} failed; java: ${java_passed:-0} passed, ${java_failed:-0} failed"
echo "$((rust_passed + ${java_passed:-0})) passed, $((rust_failed + ${java_failed:-0})) failed"
