#!/usr/bin/env bash
# CI: build the extension with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake option SOFTMAX_C_SANITIZE=ON) into its own virtual environment, so
# the normal install is untouched, then run the fast test suite (everything
# not marked slow, which includes a short fuzz) under the sanitizers.  Any
# sanitizer report -- in pytest or in a child process it starts -- fails.
#
#   bash .ci/sanitize.sh                 # from anywhere; ~5-10 min on 2 cores
#   SOFTMAX_C_SAN_PYTEST_ARGS="tests/test_fuzz.py" bash .ci/sanitize.sh
#
# Environment: PYTHON (default python3), SOFTMAX_C_SAN_DIR (work folder,
# default build/sanitize), SOFTMAX_C_SAN_PYTEST_ARGS (default: tests -m "not slow"),
# SOFTMAX_C_FUZZ_CASES (fuzz cases per function, default 150 here).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
WORK=${SOFTMAX_C_SAN_DIR:-$ROOT/build/sanitize}
VENV=$WORK/venv
LOGS=$WORK/logs
mkdir -p "$WORK"
rm -rf "$LOGS" && mkdir -p "$LOGS"

LIBASAN=$(gcc -print-file-name=libasan.so)
if [ ! -e "$LIBASAN" ] || [ "$LIBASAN" = "libasan.so" ]; then
  echo "sanitize: libasan.so not found (gcc -print-file-name=libasan.so); install gcc's libasan" >&2
  exit 1
fi

# Build settings: a separate CMake build folder (the normal one keeps its cache).
BUILD_ARGS=(--config-settings=cmake.define.SOFTMAX_C_SANITIZE=ON
            "--config-settings=build-dir=build/sanitize/cmake-{wheel_tag}"
            --config-settings=install.strip=false)   # keep symbols for the reports
export SOFTMAX_C_SANITIZE=ON

echo "== sanitize: venv $VENV"
# Preferred: a clean venv and normal build isolation (needs the package index).
if "$PY" -m venv --clear "$VENV" &&
   "$VENV/bin/python" -m pip install -q "${BUILD_ARGS[@]}" "$ROOT[test]"; then
  :
else
  # Offline fallback: reuse the build requirements already installed next to
  # the interpreter (scikit-build-core, cython, numpy, cmake, ninja).
  echo "== sanitize: isolated install failed; retrying with --no-build-isolation"
  "$PY" -m venv --clear --system-site-packages "$VENV"
  # Another checkout's editable install (a scikit-build-core import hook) must
  # not shadow the sanitized build in this venv.
  SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  cat > "$SITE/sitecustomize.py" <<'EOF'
import sys
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "ScikitBuildRedirectingFinder"]
EOF
  "$VENV/bin/python" -m pip install -q --no-build-isolation --no-deps "${BUILD_ARGS[@]}" "$ROOT"
fi

# CPython itself leaks at exit: no leak checking.  allocator_may_return_null:
# the tests ask for outputs too large to allocate and expect MemoryError.  Every report is written to
# $LOGS (also from child processes) and stops the process that made it.
export LD_PRELOAD="$LIBASAN${LD_PRELOAD:+:$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=0:exitcode=86:log_path=$LOGS/asan:strict_init_order=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:log_path=$LOGS/ubsan"
export SOFTMAX_C_FUZZ_CASES=${SOFTMAX_C_FUZZ_CASES:-150}   # a fixed set of fuzz cases per function
export PYTHONFAULTHANDLER=1
export SOFTMAX_C_SANITIZER=1   # tests that cannot run under ASan (RLIMIT_AS) skip themselves

# The sanitized module must be the one imported (it loads only with libasan preloaded).
CORE=$(cd /tmp && "$VENV/bin/python" -c "import softmax_c._core as c; print(c.__file__)") || {
  echo "sanitize: cannot import the sanitized softmax_c" >&2; exit 1; }
case "$CORE" in
  "$VENV"/*) echo "== sanitize: testing $CORE" ;;
  *) echo "sanitize: softmax_c._core resolves to '$CORE', not the sanitized build in $VENV" >&2; exit 1 ;;
esac
if ! nm -D "$CORE" | grep __asan_ >/dev/null; then  # (no -q: SIGPIPE + pipefail)
  echo "sanitize: $CORE is not instrumented: SOFTMAX_C_SANITIZE did not reach CMake" >&2
  exit 1
fi
rm -rf "$LOGS" && mkdir -p "$LOGS"

set +e  # (eval keeps the quotes of the -m expression)
( cd "$ROOT" && eval "\"$VENV/bin/python\" -m pytest -q -p no:cacheprovider -x ${SOFTMAX_C_SAN_PYTEST_ARGS:-tests -m \"not slow\"}" )
rc=$?
set -e

# A report is a log with an error in it (allocator_may_return_null also logs
# warnings for the deliberately impossible allocations of the MemoryError tests).
reports=$( (grep -l -E "ERROR|runtime error|CHECK failed" "$LOGS"/* 2>/dev/null || true) | wc -l)
if [ "$reports" -ne 0 ]; then
  echo "== sanitize: $reports sanitizer report(s):" >&2
  for f in $(grep -l -E "ERROR|runtime error|CHECK failed" "$LOGS"/*); do echo "--- $f" >&2; head -60 "$f" >&2; done
  exit 1
fi
if [ $rc -ne 0 ]; then
  echo "sanitize: tests failed under the sanitizers (exit $rc)" >&2
  exit $rc
fi
echo "== sanitize: clean"
