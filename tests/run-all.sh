#!/usr/bin/env bash
# The README's test command: installs what is missing (tests/prerequisites.sh), then every test of
# the project, cheapest first, printing how long each stage took.
#   0. the docs' links (README.md and docs/: every relative link and #anchor resolves)
#   1. Rust unit tests and integration tests against real servers on 127.0.0.1 (lighttpd +
#      git http-backend over HTTPS with basic auth, sshd) and the Kestra API stub
#   2. the plugin jar (Gradle runs cargo zigbuild for linux x86_64 and aarch64, glibc 2.17 floor,
#      and checks both libraries) and the Java tests on Java 25, incl. the jar's JNI library
#   3. the aarch64 CLI under qemu user-mode emulation: backup, no change, one change, restore; the
#      same tree as the native CLI's; then the jar's aarch64 library in an arm64 JVM under qemu
#   4. flows in Kestra 2.0's and 1.3's in-process runtimes with the jar loaded from a plugins folder
# The end-to-end suite on a real Kestra server is not here: Kestra's server artifacts (cli,
# webserver) are not served on these machines (README, "Limits").
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA25_HOME=${JAVA25_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
export CARGO_ZIGBUILD_PYTHON_PATH=${ZIGLANG_VENV:-/opt/ziglang-venv}/bin/python3
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

minutes() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
# Ends the running stage, printing how long it took, and starts the next: "<name>: <what runs>".
started=$SECONDS stage_name="" stage_started=$SECONDS
stage() {
  if [ -n "$stage_name" ]; then
    echo "=== $stage_name: $(minutes $((SECONDS - stage_started)))" | tee -a "$logs/timings"
  fi
  stage_name=${1%%:*} stage_started=$SECONDS
  printf '\n=== [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"
}
# The library check must refuse this library (a host build, a wrong architecture).
refused() {
  if bash build-support/check-native-lib.sh "$@" 2>/dev/null; then
    echo "build-support/check-native-lib.sh accepted $*: it must refuse it" >&2
    exit 1
  fi
}

stage "0/4 prerequisites and docs: bash tests/prerequisites.sh, tests/check-links.py"
bash tests/prerequisites.sh
python3 tests/check-links.py --self-test; python3 tests/check-links.py  # README and docs/: every relative link and #anchor resolves

# The Rust tests build for the jar's x86_64 target (zig, glibc 2.17): one build serves the tests, clippy
# and the jar's library.
x86_64=(--target x86_64-unknown-linux-gnu.2.17)
stage "1/4 Rust tests: cargo-zigbuild test --release --workspace (x86_64, glibc 2.17), then clippy (warnings are errors)"
cargo-zigbuild test --release --workspace "${x86_64[@]}" 2>&1 | tee "$logs/rust.log"
cargo-zigbuild clippy --release --workspace --all-targets "${x86_64[@]}" -q -- -D warnings

stage "2/4 plugin jar and Java tests: gradle build javaTest (zigbuild x86_64 + aarch64, glibc 2.17 floor checked; Java 25)"
gradle --no-daemon -q :java-plugin:build :java-plugin:javaTest 2>&1 | tee "$logs/java.log"
unzip -l java-plugin/build/libs/kestra-git-backup-*.jar | grep -E 'native/linux-(x86_64|aarch64)/libkestra_git_backup.so|META-INF/services/io.kestra.core.models.Plugin'
refused "$(gcc -print-file-name=libc.so.6)" x86_64                                  # this machine's glibc 2.36
refused target/aarch64-unknown-linux-gnu/release/libkestra_git_backup.so x86_64   # wrong architecture

stage "3/4 aarch64 under qemu: the aarch64 CLI's backups and restore vs the native CLI's"
cargo zigbuild --release -q -p kestra-git-backup --bins --target aarch64-unknown-linux-gnu.2.17
AARCH64_CLI="$PWD/target/aarch64-unknown-linux-gnu/release/kestra-git-backup" \
  cargo-zigbuild test --release -q -p kestra-git-backup --test aarch64_under_qemu "${x86_64[@]}" -- --ignored --nocapture 2>&1 | tee -a "$logs/rust.log"
# The jar's aarch64 library in an arm64 JVM (Debian's OpenJDK 17 arm64, multiarch) under qemu: version and a dry run.
git init -q --bare -b main "$logs/probe.git"
qemu-aarch64 -L / /usr/lib/jvm/java-17-openjdk-arm64/bin/java -cp java-plugin/build/classes/java/test \
  io.kestra.plugin.git.backup.NativeCallProbe java-plugin/build/libs/kestra-git-backup-*.jar "$logs/probe.git"

stage "4/4 Kestra 2.0 and 1.3 runtimes with the jar in a plugins folder: gradle kestraRuntimeTest kestra13RuntimeTest"
gradle --no-daemon -q :java-plugin:kestraRuntimeTest :java-plugin:kestra13RuntimeTest 2>&1 | tee -a "$logs/java.log"

rust_passed=$(grep -oE 'test result: ok\. [0-9]+ passed' "$logs/rust.log" | awk '{s+=$4} END {print s+0}')
rust_failed=$(grep -oE '[0-9]+ failed' "$logs/rust.log" | awk '{s+=$1} END {print s+0}')
java_passed=$(grep -oE '\[ *[0-9]+ tests successful' "$logs/java.log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
java_failed=$(grep -oE '\[ *[0-9]+ tests failed' "$logs/java.log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
stage "done"
cat "$logs/timings"
echo "=== total: $(minutes $((SECONDS - started)))"
echo "rust: ${rust_passed} passed, ${rust_failed} failed; java: ${java_passed:-0} passed, ${java_failed:-0} failed"
echo "$((rust_passed + ${java_passed:-0})) passed, $((rust_failed + ${java_failed:-0})) failed"
