#!/usr/bin/env bash
# Vigie's whole test suite, as CI runs it (.ci/run calls exactly this).
#
#   tools/test.sh            everything below, in order, stopping at the first failure
#   tools/test.sh --quick    only the gcc build, unit tests, the Debian package
#                            and integration tests
#
# 1. bootstrap (Debian packages, Python venv, Kafka jars; quiet when present)
# 2. every tracked .c and .h as clang-format lays it out (.clang-format);
#    gcc build with -Werror; unit tests and fuzz-corpus replays under CTest;
#    the Debian package from that build (cpack -G DEB, lintian), installed,
#    removed and purged on this machine (tests/package/test_deb.sh; as root)
# 3. clang build with ASan+UBSan and -Werror; the same CTest suite
# 4. clang build with TSan; the threaded unit-test groups (names with "thread")
# 5. clang libFuzzer build; every fuzz target for $VIGIE_FUZZ_SECONDS (default 15),
#    as many at once as there are cores
# 6. integration tests (pytest) against a real Apache Kafka broker
# 7. integration tests on a real 3-broker KRaft cluster (marker `cluster`)
#
# Build trees go to $VIGIE_BUILD_ROOT (default ./build-test), outside git.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
quick=0
[ "${1:-}" = "--quick" ] && quick=1

bash tools/bootstrap.sh
cache=${VIGIE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vigie}
venv="$cache/venv"
root=${VIGIE_BUILD_ROOT:-$here/build-test}
jobs=$(nproc)
t_start=$(date +%s)

stage() { printf '\n== %s (%ss)\n' "$*" $(($(date +%s) - t_start)); }

configure_build() { # dir, cmake args...
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DVIGIE_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  ninja -C "$dir" -j "$jobs" >"$dir.build.log" 2>&1 ||
    { grep -E -B2 -A12 'error|FAILED' "$dir.build.log" | head -120; return 1; }
}

mkdir -p "$root"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

stage "formatting (clang-format --dry-run -Werror, the committed .clang-format)"
git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/corpus/' | xargs clang-format --dry-run -Werror

stage "gcc build (-Werror)"
# the prefix /usr: the Debian package is made from this build
CC=gcc configure_build "$root/gcc" -DCMAKE_INSTALL_PREFIX=/usr
stage "unit tests (gcc)"
ctest --test-dir "$root/gcc" --output-on-failure -j "$jobs"
stage "Debian package: cpack -G DEB, lintian, install, remove, purge"
bash tests/package/test_deb.sh "$root/gcc"

if [ $quick -eq 0 ]; then
  stage "clang ASan+UBSan build"
  CC=clang configure_build "$root/asan" -DVIGIE_SANITIZE=ON -DVIGIE_BENCH=OFF
  stage "unit tests (ASan+UBSan)"
  ctest --test-dir "$root/asan" --output-on-failure -j "$jobs"

  stage "clang TSan build"
  CC=clang configure_build "$root/tsan" -DVIGIE_TSAN=ON -DVIGIE_BENCH=OFF
  if ctest --test-dir "$root/tsan" -N -R thread | grep -q 'Total Tests: [1-9]'; then
    stage "threaded unit tests (TSan)"
    ctest --test-dir "$root/tsan" --output-on-failure -R thread
  else
    echo "no threaded test groups yet"
  fi

  stage "libFuzzer build"
  CC=clang configure_build "$root/fuzz" -DVIGIE_FUZZ=ON -DVIGIE_SANITIZE=ON \
    -DVIGIE_BENCH=OFF
  secs=${VIGIE_FUZZ_SECONDS:-15}
  # one target on a fresh copy of its committed seeds (they stay untouched);
  # its log in fuzz/NAME.log
  fuzz_one() {
    local bin=$1 name=${1##*/fuzz-} dict=()
    local work="$root/fuzz/corpus-$name"
    rm -rf "$work"
    mkdir -p "$work"
    cp -r tests/fuzz/corpus/"$name"/. "$work"/
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    "$bin" -max_total_time="$secs" -print_final_stats=1 \
      -artifact_prefix="$root/fuzz/crash-$name-" "${dict[@]}" "$work" \
      >"$root/fuzz/$name.log" 2>&1
  }
  # the targets are single-threaded: as many at once as there are cores
  ncpu=$(nproc)
  stage "fuzz every target for ${secs}s, $ncpu at a time"
  names=()
  for bin in "$root"/fuzz/tests/fuzz/fuzz-*; do
    [ -x "$bin" ] || continue
    while [ "$(jobs -rp | wc -l)" -ge "$ncpu" ]; do wait -n || true; done
    name=${bin##*/fuzz-}
    names+=("$name")
    (if fuzz_one "$bin"; then echo 0; else echo 1; fi >"$root/fuzz/$name.rc") &
  done
  wait
  failed=0
  for name in "${names[@]}"; do
    log="$root/fuzz/$name.log"
    if [ "$(cat "$root/fuzz/$name.rc")" = 0 ]; then
      echo "$name: $(grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$log" |
        tr '\n' ' ')"
    else
      tail -n 60 "$log"
      echo "fuzz target $name failed; the input is in $root/fuzz/crash-$name-*"
      failed=1
    fi
  done
  [ "$failed" = 0 ] || exit 1
fi

stage "integration tests against a real Kafka broker"
# --durations: where the stage's time goes (it must stay under 20 minutes)
VIGIE_BUILD_DIR="$root/gcc" "$venv/bin/pytest" -c tests/integration/pytest.ini \
  --durations=25 -m "not cluster" tests/integration
# the 3-broker KRaft cluster's tests (scale-out roles, failover): a stage of
# their own, after the rest, so that the first verdict comes sooner
stage "integration tests on a 3-broker Kafka cluster"
VIGIE_BUILD_DIR="$root/gcc" "$venv/bin/pytest" -c tests/integration/pytest.ini \
  --durations=10 -m cluster tests/integration
stage "all tests passed"
