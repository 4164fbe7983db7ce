#!/usr/bin/env bash
# Installs the test peers beyond npm: for the MQTT conformance suite
# (ts/test/mqtt) the reference broker and CLI clients (mosquitto,
# mosquitto-clients) and openssl for test certificates; for the Kafka client
# matrix (ts/test/kafka/clients) kcat (Debian's, an old librdkafka), a JDK
# and Apache Kafka's jars (scripts/kafka-jars.sh); and a Python venv
# at ~/.cache/ferrymq/venv with paho-mqtt, confluent-kafka, kafka-python and
# kafka-python's codec libraries (lz4, python-snappy over cramjam,
# zstandard), all pinned; and ss (iproute2) to read listeners' accept
# queues (ts/test/listen-backlog.e2e.test.ts). Idempotent; prints nothing when all is present;
# exits non-zero with a message on failure.
set -euo pipefail

PAHO_VERSION="2.1.0"
# name==version, checked against the installed distributions as a whole.
PY_PINS=(
  "paho-mqtt==$PAHO_VERSION"
  "confluent-kafka==2.16.1"
  "kafka-python==3.0.12"
  "lz4==4.4.5"
  "python-snappy==0.7.3"
  "cramjam==2.14.0"
  "zstandard==0.25.0"
)
VENV="${FERRYMQ_TEST_VENV:-$HOME/.cache/ferrymq/venv}"

fail() {
  echo "test-deps: $*" >&2
  exit 1
}

need=()
for pkg in mosquitto mosquitto-clients openssl python3-venv kcat iproute2; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# Any JDK 17+ will do; a JDK, not a JRE: the Java client driver runs as a
# single-file source program, which needs the compiler module. Debian's
# only when none is on PATH.
{ command -v java && command -v javac; } >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
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
for bin in mosquitto mosquitto_pub mosquitto_sub openssl kcat java javac ss; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || fail "$bin not found after install"
done

PY="$VENV/bin/python"
if ! [ -x "$PY" ]; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV" >/dev/null 2>&1 || fail "python3 -m venv $VENV failed"
fi
pins_met() {
  "$PY" - "${PY_PINS[@]}" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    if version(name) != want:
        sys.exit(1)
EOF
}
if ! pins_met; then
  log="$(mktemp)"
  "$PY" -m pip install -q --disable-pip-version-check "${PY_PINS[@]}" >"$log" 2>&1 \
    || { tail -n 20 "$log" >&2; rm -f "$log"; fail "pip install ${PY_PINS[*]} into $VENV failed"; }
  rm -f "$log"
  pins_met || fail "pip installed, but the venv at $VENV still does not match ${PY_PINS[*]}"
fi

# Apache Kafka's Java client and tools for the client matrix (and bench:kafka):
# fetched once from Maven Central into ~/.cache/ferrymq/kafka; prints only on failure.
bash "$(dirname "$0")/kafka-jars.sh" >/dev/null || fail "scripts/kafka-jars.sh could not provide the Kafka jars"
