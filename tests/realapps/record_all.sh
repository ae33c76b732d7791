#!/usr/bin/env bash
# Build one virtualenv per instrumentation (pinned in tests/realapps/requirements/) and record the
# real-application matrix in each. `make record-apps` runs this; it needs the package registry.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
VENVS="${VENVS:-build/record-venvs}"
PYTHON="${PYTHON:-python3}"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(mre openllmetry openinference-framework openinference-framework-client official-genai official-genai-mre openlit)
fi
for name in "${names[@]}"; do
  venv="$VENVS/$name"
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "tests/realapps/requirements/$name.txt" -e "$ROOT"
  (cd "$ROOT" && "$venv/bin/python" -m tests.realapps.record "$name")
done
