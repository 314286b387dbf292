#!/usr/bin/env bash
# The README's "run the main job" command: builds the core and backs up a small example instance
# (flows and namespace files of four namespaces) to a local Git server over HTTPS, in one commit,
# then again after a change; prints the commits and the tree. No account needed.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release -q -p kestra-git-backup --example demo
