#!/usr/bin/env bash
# Fetches Apache Kafka's jars from Maven Central (the broker, kafka_2.13; the
# tools, kafka-tools: console producer/consumer, Producer/ConsumerPerformance,
# TopicCommand, ConsumerGroupCommand; their runtime dependencies; a log4j2
# binding for slf4j) into ~/.cache/ferrymq/kafka/<version>/libs and prints
# that directory on stdout. Idempotent: when the directory is complete it
# prints it and touches nothing else. Used as a peer in tests and benches:
#
#   java -cp "$(scripts/kafka-jars.sh)/*" org.apache.kafka.tools.ProducerPerformance --help
#
# Maven Central is the source because it is reachable from CI (GitHub and
# archive.apache.org are not); the binary tarball has the same jars.
# Debian's maven is installed with apt-get when mvn is missing. Without a
# log4j2 config file log4j2 logs only errors to the console, which keeps the
# tools quiet; callers that want broker logs pass -Dlog4j2.configurationFile.
#
# Environment: FERRYMQ_KAFKA_VERSION (default below), FERRYMQ_KAFKA_CACHE
# (default ~/.cache/ferrymq/kafka). Exits non-zero with a message on failure.
set -euo pipefail

# 4.3.1 is the newest 4.x with every artifact on Central: kafka_2.13 4.4.0 is
# published, but kafka-tools 4.4.0 is not (checked 2026-11-22).
VERSION="${FERRYMQ_KAFKA_VERSION:-4.3.1}"
# The binding the Kafka 4 distribution ships for its slf4j 1.7 API.
LOG4J_VERSION="2.24.3"
CACHE="${FERRYMQ_KAFKA_CACHE:-$HOME/.cache/ferrymq/kafka}"
DIR="$CACHE/$VERSION"
LIBS="$DIR/libs"
# Written last, so an interrupted download is redone rather than trusted.
STAMP="$DIR/.complete"

fail() {
  echo "kafka-jars: $*" >&2
  exit 1
}

if [ -f "$STAMP" ] && [ -d "$LIBS" ]; then
  echo "$LIBS"
  exit 0
fi

if ! command -v mvn >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log="$(mktemp)"
  $SUDO apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; fail "apt-get update failed"; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends maven >"$log" 2>&1 \
    || { cat "$log" >&2; rm -f "$log"; fail "apt-get install maven failed"; }
  rm -f "$log"
  command -v mvn >/dev/null 2>&1 || fail "mvn not found after installing maven"
fi
command -v java >/dev/null 2>&1 || fail "java not found (Kafka $VERSION needs Java 17+)"

mkdir -p "$DIR"
work="$(mktemp -d "$DIR/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cat >"$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.ferrymq</groupId>
  <artifactId>kafka-peer-jars</artifactId>
  <version>$VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF

out="$work/libs"
log="$work/mvn.log"
# Maven's own repository cache stays under ours, so nothing lands in ~/.m2.
mvn -q -B -f "$work/pom.xml" \
  -Dmaven.repo.local="$CACHE/m2" \
  dependency:copy-dependencies \
  -DincludeScope=runtime \
  -DoutputDirectory="$out" >"$log" 2>&1 \
  || { tail -n 40 "$log" >&2; fail "mvn could not resolve Kafka $VERSION from Maven Central"; }

for jar in "kafka_2.13-$VERSION.jar" "kafka-tools-$VERSION.jar" "kafka-clients-$VERSION.jar"; do
  [ -f "$out/$jar" ] || fail "$jar missing after download"
done

rm -rf "$LIBS"
mv "$out" "$LIBS"
touch "$STAMP"
echo "$LIBS"
