#!/usr/bin/env bash
# Installs what the MQTT conformance suite (ts/test/mqtt) needs beyond
# npm: the reference broker and CLI clients (mosquitto, mosquitto-clients),
# openssl for test certificates, and a Python venv with paho-mqtt at
# ~/.cache/ferrymq/venv. Idempotent; prints nothing when all is present;
# exits non-zero with a message on failure.
set -euo pipefail

PAHO_VERSION="2.1.0"
VENV="${FERRYMQ_TEST_VENV:-$HOME/.cache/ferrymq/venv}"

fail() {
  echo "test-deps: $*" >&2
  exit 1
}

need=()
for pkg in mosquitto mosquitto-clients openssl python3-venv; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  $SUDO apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; fail "apt-get update failed"; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >"$log" 2>&1 \
    || { cat "$log" >&2; fail "apt-get install ${need[*]} failed"; }
fi
# Debian starts a system mosquitto on 1883 after install; the suite never uses it.
for bin in mosquitto mosquitto_pub mosquitto_sub openssl; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || fail "$bin not found after install"
done

PY="$VENV/bin/python"
if ! [ -x "$PY" ]; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV" >/dev/null 2>&1 || fail "python3 -m venv $VENV failed"
fi
if ! "$PY" -c "import paho.mqtt, sys; sys.exit(0 if paho.mqtt.__version__ == '$PAHO_VERSION' else 1)" >/dev/null 2>&1; then
  "$PY" -m pip install -q --disable-pip-version-check "paho-mqtt==$PAHO_VERSION" >/dev/null 2>&1 \
    || fail "pip install paho-mqtt==$PAHO_VERSION into $VENV failed"
fi
