#!/usr/bin/env bash
# Checks a native library before it goes into the jar: its ELF machine is the architecture of the
# jar folder it goes to, and the newest glibc symbol version it needs (`objdump -T`) is at most
# 2.17, the supported floor. Fails naming what it found and the fix. Called by the Gradle build.
#   bash build-support/check-native-lib.sh <library.so> x86_64|aarch64
set -euo pipefail
lib=$1 arch=$2 floor=2.17
case "$arch" in
  x86_64) expected="Advanced Micro Devices X86-64" ;;
  aarch64) expected="AArch64" ;;
  *) echo "check-native-lib: unknown architecture '$arch' (x86_64 or aarch64)" >&2; exit 2 ;;
esac
fail() { echo "check-native-lib: $lib: $*" >&2; exit 1; }
[ -f "$lib" ] || fail "missing (build it with cargo zigbuild --release --lib --target $arch-unknown-linux-gnu.$floor)"

machine=$(readelf -h "$lib" | sed -n 's/^ *Machine: *//p')
[ "$machine" = "$expected" ] || fail "ELF machine is '$machine', expected '$expected' for linux-$arch"

newest=$(objdump -T "$lib" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -n 1)
[ -n "$newest" ] || fail "no GLIBC_ symbol version found by objdump -T: not a glibc library"
if [ "$(printf '%s\n%s\n' "$newest" "$floor" | sort -V | tail -n 1)" != "$floor" ]; then
  fail "needs GLIBC_$newest, above the $floor floor: build it with cargo zigbuild --target $arch-unknown-linux-gnu.$floor, not cargo build"
fi
echo "$lib: $machine, newest glibc symbol version GLIBC_$newest (floor $floor)"
