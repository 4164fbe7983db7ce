#!/usr/bin/env bash
# Installs what building FerryMQ from source needs beyond Node and Rust:
# clang/libclang for RocksDB's bindgen and a C++ toolchain. Idempotent and
# quiet when everything is present. Node.js 24 itself comes from npm (the
# `node` dev dependency), so any npm works to bootstrap.
set -euo pipefail

need=()
for pkg in clang libclang-dev build-essential; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "setup: installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo (Rust) is required to build the native addon from source; install it with rustup." >&2
  exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: npm is required; it installs the Node.js 24 this project runs on." >&2
  exit 1
fi
