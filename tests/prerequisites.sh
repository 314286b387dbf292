#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian 12 machine (Debian packages; Rust and
# a Java 25 JDK must already be there) and checks the toolchains. Safe to run again: installs only
# what is missing. Used by .ci/run and tests/demo.sh.
set -euo pipefail

step() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

need_apt=()
for pkg in git lighttpd lighttpd-mod-openssl openssh-server openssh-client openssl curl unzip \
           gradle maven gcc make perl pkg-config ca-certificates gnupg age; do
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

step "toolchains"
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
cargo clippy --version >/dev/null 2>&1 || { echo "clippy not found: rustup component add clippy" >&2; exit 1; }
JAVA25_HOME=${JAVA25_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
[ -x "$JAVA25_HOME/bin/java" ] || { echo "Java 25 not found at $JAVA25_HOME (set JAVA25_HOME)" >&2; exit 1; }
cargo --version; "$JAVA25_HOME/bin/java" -version 2>&1 | head -1; gradle --version 2>/dev/null | grep -E '^Gradle' || true
git --version; lighttpd -v | head -1
