#!/usr/bin/env bash
# Install what a fresh Debian 12 machine lacks to build, run and test Vigie.
#
# Idempotent and quiet when everything is present: it only prints what it
# installs. Everything it fetches outside Debian's packages lives in the cache
# ($VIGIE_CACHE, default ~/.cache/vigie), never in the repository:
#   venv/     Python test packages (pytest, confluent-kafka, duckdb, selenium)
#   npm/      JavaScript that the browser tests inject into pages (axe-core)
#   kafka/    Apache Kafka jars resolved from Maven Central (tests/kafka)
#   m2/       Maven's download store behind them
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${VIGIE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vigie}

# Debian packages: the build, the required libraries, the ones we chose
# (each justified in the commit that brought it), and the test tools; the
# Debian package's man pages (help2man), its check (lintian) and what its
# maintainer scripts use (adduser: not in a minbase root).
apt_pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang clang-format libclang-rt-14-dev libfuzzer-14-dev
  librdkafka-dev liblmdb-dev lmdb-utils liburing-dev libjemalloc-dev
  libcmocka-dev libyaml-dev libmicrohttpd-dev libzstd-dev zlib1g-dev libsystemd-dev
  libsqlite3-dev libyajl-dev libcjson-dev libjansson-dev libjsmn-dev
  kcat curl maven openjdk-17-jre-headless python3 python3-venv tzdata
  chromium chromium-driver fonts-dejavu-core
  help2man lintian adduser systemd man-db
)
# npm fetches axe-core below: the machine's own npm if it has one (a Node.js
# from outside Debian, whose package provides npm, must not be replaced),
# else Debian's (which brings Debian's nodejs).
command -v npm >/dev/null || apt_pkgs+=(npm)

missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -q \
    --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log"
    echo "bootstrap: apt-get failed (log above)" >&2
    exit 1
  fi
  grep -E '^(Need to get|[0-9]+ upgraded)' "$log" | sed 's/^/bootstrap: /'
  rm -f "$log"
fi

# Python test packages, pinned, in a venv of Debian's python3.
venv="$cache/venv"
req="$here/tests/requirements.txt"
stamp="$venv/.req-$(sha256sum "$req" | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  echo "bootstrap: installing Python test packages into $venv"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  touch "$stamp"
fi

# axe-core, the accessibility engine that tests/integration/browser.py injects
# into pages, from the npm registry at the version and integrity that
# tests/package-lock.json pins (npm ci checks both).
npm_dir="$cache/npm"
stamp="$npm_dir/.lock-$(cat "$here/tests/package.json" "$here/tests/package-lock.json" |
  sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  echo "bootstrap: installing JavaScript test packages into $npm_dir"
  rm -rf "$npm_dir"
  mkdir -p "$npm_dir"
  cp "$here/tests/package.json" "$here/tests/package-lock.json" "$npm_dir"/
  if ! log=$(cd "$npm_dir" && npm ci --no-audit --no-fund 2>&1); then
    echo "$log"
    echo "bootstrap: npm ci failed (log above)" >&2
    exit 1
  fi
  touch "$stamp"
fi

# Apache Kafka from Maven Central for the integration tests' real broker.
"$venv/bin/python" "$here/tests/kafka/broker.py" resolve --quiet
