#!/usr/bin/env bash
# Installs moto's S3-compatible server (PyPI `moto[server]`, pinned) into a Python venv at
# target/moto-venv for drift-remote's tests, which start `moto_server` on loopback themselves.
# Idempotent: when the venv already holds the pinned version it only prints the path.
# Prints the path of `moto_server` on stdout (progress goes to stderr).
# Override the interpreter with PYTHON=..., the venv location with MOTO_VENV=...
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.5"
venv="${MOTO_VENV:-target/moto-venv}"
python="${PYTHON:-python3}"

installed_version() {
    "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true
}

if [ -x "$venv/bin/moto_server" ] && [ "$(installed_version)" = "$MOTO_VERSION" ]; then
    echo "$(cd "$venv/bin" && pwd)/moto_server"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "creating venv $venv" >&2
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" >&2
fi
echo "installing moto[server]==$MOTO_VERSION into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" >&2

if [ ! -x "$venv/bin/moto_server" ] || [ "$(installed_version)" != "$MOTO_VERSION" ]; then
    echo "moto_server $MOTO_VERSION is not in $venv after installing" >&2
    exit 1
fi
echo "$(cd "$venv/bin" && pwd)/moto_server"
