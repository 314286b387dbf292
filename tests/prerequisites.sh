#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian 12 machine (Debian packages, zig from
# PyPI, cargo-zigbuild from crates.io, Rust's aarch64 standard library; Rust and a Java 25 JDK must
# already be there) and checks the toolchains. Safe to run again: installs only what is missing and
# prints one line when everything is there. Used by tests/run-all.sh and tests/demo.sh.
set -euo pipefail

step() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

need_apt=()
for pkg in git lighttpd lighttpd-mod-openssl openssh-server openssh-client openssl curl unzip \
           gradle maven gcc make perl pkg-config ca-certificates gnupg age \
           python3-venv binutils qemu-user; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt-get install ${need_apt[*]}"
  # Keep package installs from starting system services (lighttpd on :80, sshd on :22).
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# The aarch64 proof (tests/run-all.sh stage 3) runs under qemu-aarch64 -L / with Debian's arm64
# glibc (libc6:arm64) and OpenJDK 17 (arm64) through multiarch. It moves the amd64 openjdk-17 to the
# same Debian version. No second aarch64 glibc (libc6-arm64-cross): see docs/platforms.md.
if ! dpkg -s libc6:arm64 openjdk-17-jre-headless:arm64 >/dev/null 2>&1; then
  step "dpkg --add-architecture arm64; apt-get install libc6:arm64 openjdk-17-jre-headless:arm64"
  dpkg --add-architecture arm64
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libc6:arm64 openjdk-17-jre-headless:arm64
fi

command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
cargo clippy --version >/dev/null 2>&1 || { echo "clippy not found: rustup component add clippy" >&2; exit 1; }
JAVA25_HOME=${JAVA25_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
[ -x "$JAVA25_HOME/bin/java" ] || { echo "Java 25 not found at $JAVA25_HOME (set JAVA25_HOME)" >&2; exit 1; }

# The portable native build (README, "Install"): zig from PyPI in its own venv (Debian's Python is
# externally managed), cargo-zigbuild, and the aarch64 standard library; versions pinned.
ZIGLANG_VENV=${ZIGLANG_VENV:-/opt/ziglang-venv}
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1
if [ "$("$ZIGLANG_VENV/bin/python3" -m ziglang version 2>/dev/null)" != "$ZIGLANG_VERSION" ]; then
  step "pip install ziglang==$ZIGLANG_VERSION into $ZIGLANG_VENV"
  python3 -m venv "$ZIGLANG_VENV"
  "$ZIGLANG_VENV/bin/pip" install -q --disable-pip-version-check "ziglang==$ZIGLANG_VERSION"
fi
if [ "$(cargo-zigbuild --version 2>/dev/null)" != "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ]; then
  step "cargo install cargo-zigbuild $CARGO_ZIGBUILD_VERSION"
  cargo install -q --locked cargo-zigbuild --version "$CARGO_ZIGBUILD_VERSION"
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  step "rustup target add aarch64-unknown-linux-gnu"
  rustup target add aarch64-unknown-linux-gnu
fi

echo "prerequisites: $(cargo --version | cut -d' ' -f1-2), zig $("$ZIGLANG_VENV/bin/python3" -m ziglang version)," \
  "$(cargo-zigbuild --version), $("$JAVA25_HOME/bin/java" -version 2>&1 | head -1)," \
  "$(gradle --version 2>/dev/null | grep -E '^Gradle' || true), $(git --version), $(qemu-aarch64 --version | head -1 | cut -d' ' -f1-3)"
