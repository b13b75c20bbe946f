#!/usr/bin/env bash
# CI: the C ABI smoke test (tools/abi_smoke.cpp) cross-built for aarch64 and
# run under qemu-user: the NEON baseline and scalar targets, no Python.
# Installs g++-aarch64-linux-gnu and qemu-user with apt-get when missing
# (root only).  Measured on the 2-core CI machine (busy with other jobs):
# apt-get update + install 66 s, compile 34 s (2 jobs; 12 s CPU), run 2 s.
# The sources are globbed (cpp/src/*.cpp cpp/src/*/*.cpp, minus the x86
# targets) so the line works before and after the cpp/src/<family>/ layout.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "!! aarch64 smoke SKIPPED: no aarch64-linux-gnu-g++ / qemu-aarch64 and no root apt-get" >&2
    exit 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++-aarch64-linux-gnu qemu-user >/dev/null
fi
echo "== aarch64: toolchain ready in $((SECONDS - t0)) s"
shopt -s nullglob
srcs=(tools/abi_smoke.cpp)
for f in cpp/src/*.cpp cpp/src/*/*.cpp; do
  case "$f" in */targets/avx*.cpp) continue ;; esac
  srcs+=("$f")
done
incs=(-Icpp/include -Icpp/src)
for d in cpp/src/*/; do incs+=("-I$d"); done
OBJ=$(mktemp -d)
trap 'rm -rf "$OBJ"' EXIT
t1=$SECONDS
i=0
for f in "${srcs[@]}"; do  # two compile jobs at a time (CI has 2 cores)
  aarch64-linux-gnu-g++ -std=c++17 -O2 "${incs[@]}" -c "$f" -o "$OBJ/$i.o" &
  i=$((i + 1))
  if [ $((i % 2)) -eq 0 ]; then wait -n; fi
done
wait
aarch64-linux-gnu-g++ -static "$OBJ"/*.o -o "$OBJ/smoke" -pthread
echo "== aarch64: built in $((SECONDS - t1)) s"
qemu-aarch64 "$OBJ/smoke"
echo "== aarch64: ok ($((SECONDS - t0)) s in all)"
