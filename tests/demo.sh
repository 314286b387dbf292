#!/usr/bin/env bash
# The README's "run the main job" command, no account needed: installs what is missing, builds the
# plugin (cargo + Gradle), then runs the seed backup flow in Kestra 2.0's in-process runtime with
# the jar in its plugins folder, against a local Git server (HTTPS, basic auth, its own CA) and the
# example instance's flows and files. Prints the tasks' log, the commits and the tree, edits a flow,
# runs again (one commit), and once more (no commit); then the whole instance with one
# BackupInstance task into a second repository (one commit), and a restore drill of it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/prerequisites.sh
export JAVA25_HOME=${JAVA25_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
exec gradle --no-daemon -q :java-plugin:kestraDemo
