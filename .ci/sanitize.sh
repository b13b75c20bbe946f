#!/usr/bin/env bash
# CI: build the extension with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake option SOFTMAX_C_SANITIZE=ON) into its own virtual environment, so
# the normal install is untouched, then run the fast test suite (everything
# not marked slow, which includes a short fuzz) under the sanitizers.  Any
# sanitizer report -- in pytest or in a child process it starts -- fails.
# Then the same with ThreadSanitizer (SOFTMAX_C_SANITIZE=thread) over the
# thread, fork and load tests (second half of this file).
#
#   bash .ci/sanitize.sh                 # from anywhere; ~5-10 min on 2 cores
#   SOFTMAX_C_SAN_PYTEST_ARGS="tests/test_fuzz.py" bash .ci/sanitize.sh
#
# Environment: PYTHON (default python3), SOFTMAX_C_SAN_DIR (work folder,
# default build/sanitize), SOFTMAX_C_SAN_PYTEST_ARGS (default: tests -m "not slow"),
# SOFTMAX_C_FUZZ_CASES (fuzz cases per function, default 150 here),
# SOFTMAX_C_SAN_SKIP_TSAN=1 (the ASan half only), SOFTMAX_C_TSAN_PYTEST_ARGS.
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

# install_into VENV BUILD_ARGS...: a venv holding the sanitized build of $ROOT.
install_into() {
  local venv=$1; shift
  echo "== sanitize: venv $venv"
  # Preferred: a clean venv and normal build isolation (needs the package index).
  if "$PY" -m venv --clear "$venv" &&
     "$venv/bin/python" -m pip install -q "$@" "$ROOT[test]"; then
    return 0
  fi
  # Offline fallback: reuse the build requirements already installed next to
  # the interpreter (scikit-build-core, cython, numpy, cmake, ninja).
  echo "== sanitize: isolated install failed; retrying with --no-build-isolation"
  "$PY" -m venv --clear --system-site-packages "$venv"
  # Another checkout's editable install (a scikit-build-core import hook) must
  # not shadow the sanitized build in this venv.
  local site
  site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  cat > "$site/sitecustomize.py" <<'EOF'
import sys
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "ScikitBuildRedirectingFinder"]
EOF
  "$venv/bin/python" -m pip install -q --no-build-isolation --no-deps "$@" "$ROOT"
}
install_into "$VENV" "${BUILD_ARGS[@]}"

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
echo "== sanitize: ASan + UBSan clean"

# --------------------------------------------------------------------------
# ThreadSanitizer (SOFTMAX_C_SANITIZE=thread): its own CMake build folder and
# venv, libtsan preloaded, the thread / fork / load tests (the pool, the
# atfork handlers, per-thread scratch, concurrent callers).  Every report is
# written to $TLOGS and fails the run; .ci/tsan.supp holds the suppressions
# (outside softmax_c only, each with its reason).  ~10 min on 2 cores.
# SOFTMAX_C_TSAN_PYTEST_ARGS overrides the test selection; SOFTMAX_C_SAN_SKIP_TSAN=1 skips it.
# --------------------------------------------------------------------------
[ "${SOFTMAX_C_SAN_SKIP_TSAN:-0}" = 1 ] && exit 0
unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
LIBTSAN=$(gcc -print-file-name=libtsan.so)
if [ ! -e "$LIBTSAN" ] || [ "$LIBTSAN" = "libtsan.so" ]; then
  echo "sanitize: libtsan.so not found (gcc -print-file-name=libtsan.so); install gcc's libtsan" >&2
  exit 1
fi
TVENV=$WORK/tsan-venv
TLOGS=$WORK/tsan-logs
t0=$SECONDS
TBUILD_ARGS=(--config-settings=cmake.define.SOFTMAX_C_SANITIZE=thread
             "--config-settings=build-dir=build/sanitize/tsan-cmake-{wheel_tag}"
             --config-settings=install.strip=false)
export SOFTMAX_C_SANITIZE=thread
install_into "$TVENV" "${TBUILD_ARGS[@]}"
echo "== tsan: built in $((SECONDS - t0)) s"

# die_after_fork=0: the fork tests start threads in children of a threaded
# parent (the pool is rebuilt there).  allocator_may_return_null: the
# MemoryError tests.  OPENBLAS_NUM_THREADS=1: the float64 oracle's matmul
# would run on OpenBLAS threads, which synchronise by uninstrumented spinning.
export LD_PRELOAD="$LIBTSAN"
export TSAN_OPTIONS="halt_on_error=0:exitcode=66:log_path=$TLOGS/tsan:die_after_fork=0:allocator_may_return_null=1:second_deadlock_stack=1:suppressions=$ROOT/.ci/tsan.supp"
export OPENBLAS_NUM_THREADS=1
export SOFTMAX_C_SANITIZER=thread
CORE=$(cd /tmp && "$TVENV/bin/python" -c "import softmax_c._core as c; print(c.__file__)") || {
  echo "tsan: cannot import the TSan build of softmax_c" >&2; exit 1; }
case "$CORE" in
  "$TVENV"/*) echo "== tsan: testing $CORE" ;;
  *) echo "tsan: softmax_c._core resolves to '$CORE', not the build in $TVENV" >&2; exit 1 ;;
esac
if ! nm -D "$CORE" | grep __tsan_ >/dev/null; then
  echo "tsan: $CORE is not instrumented: SOFTMAX_C_SANITIZE=thread did not reach CMake" >&2
  exit 1
fi
rm -rf "$TLOGS" && mkdir -p "$TLOGS"
t1=$SECONDS
set +e
( cd "$ROOT" && eval "\"$TVENV/bin/python\" -m pytest -q -p no:cacheprovider --durations=5 ${SOFTMAX_C_TSAN_PYTEST_ARGS:-tests/test_threads.py tests/test_reliability.py -k \"thread or fork or load or scratch_failure\"}" )
rc=$?
set -e
echo "== tsan: tests ran in $((SECONDS - t1)) s"
reports=$( (grep -l "WARNING: ThreadSanitizer" "$TLOGS"/* 2>/dev/null || true) | wc -l)
if [ "$reports" -ne 0 ]; then
  echo "== tsan: reports in $reports process(es):" >&2
  grep -h "SUMMARY: ThreadSanitizer" "$TLOGS"/* | sort | uniq -c >&2
  for f in $(grep -l "WARNING: ThreadSanitizer" "$TLOGS"/*); do echo "--- $f" >&2; head -40 "$f" >&2; done
  exit 1
fi
if [ $rc -ne 0 ]; then
  echo "tsan: tests failed under ThreadSanitizer (exit $rc)" >&2
  exit $rc
fi
echo "== sanitize: TSan clean"
