#!/usr/bin/env bash
# The Debian package, installed, used, removed and purged on this machine.
#
#   bash tests/package/test_deb.sh BUILD_DIR
#
# BUILD_DIR: a built tree configured with -DCMAKE_INSTALL_PREFIX=/usr (and
# help2man installed), as tools/test.sh's gcc build is. Needs root: it runs
# dpkg. It refuses to run on a machine that already has a vigie package,
# user, group, /etc/vigie or /var/lib/vigie, and puts the machine back as it
# found it whether it passes or fails (the EXIT trap); /etc/passwd, group,
# shadow and gshadow are compared before and after.
#
# 1. cpack -G DEB in BUILD_DIR; the control fields, conffiles and contents;
#    lintian with no error (its warnings printed)
# 2. dpkg -i: the system user vigie, /var/lib/vigie vigie:vigie 0750, the
#    configuration root:vigie 0640, the unit neither enabled nor started;
#    vigied --check-config on /etc/vigie/vigie.yaml as vigie; the binaries
#    and man pages
# 3. as vigie, a real store in /var/lib/vigie (vigied --drain on the embedded
#    broker) and a marker file; the configuration edited
# 4. dpkg -r: binaries and unit gone; the store, marker, user and edited
#    configuration kept
# 5. dpkg -i again: the edited configuration kept, the same user, and vigieq
#    reads the store that survived
# 6. dpkg -P: the user, group, /var/lib/vigie, /etc/vigie and every trace gone
set -euo pipefail

build=${1:?usage: test_deb.sh BUILD_DIR}
build=$(cd "$build" && pwd)
t0=$(date +%s)

say() { printf 'package: %s\n' "$*"; }
fail() {
  printf 'package: FAIL: %s\n' "$*" >&2
  exit 1
}
# check DESCRIPTION COMMAND...: the command must succeed
check() {
  local what=$1
  shift
  if "$@"; then say "ok - $what"; else fail "$what"; fi
}
# stat_is PATH OWNER:GROUP MODE
stat_is() { [ "$(stat -c '%U:%G %a' "$1")" = "$2 $3" ]; }
installed_status() { dpkg-query -W -f='${Status}' vigie 2>/dev/null || true; }

if [ "$(id -u)" -ne 0 ]; then
  say "SKIPPED: installing a package needs root (CI runs as root)"
  exit 0
fi
for tool in cpack dpkg dpkg-deb lintian runuser flock systemd-analyze man; do
  command -v "$tool" >/dev/null || fail "$tool missing (bash tools/bootstrap.sh installs it)"
done

# One package test at a time on this machine (other checkouts may run theirs).
mkdir -p /run/lock
exec 9>/run/lock/vigie-package-test.lock
flock -w 300 9 || fail "another package test holds /run/lock/vigie-package-test.lock"

# The machine must have no vigie yet: the test creates and removes all of it.
dsh=/var/lib/systemd/deb-systemd-helper-enabled
traces() {
  ls -d /etc/vigie /var/lib/vigie /var/lib/dpkg/info/vigie.* \
    "$dsh"/vigied.service.dsh-also "$dsh"/multi-user.target.wants/vigied.service \
    /etc/systemd/system/multi-user.target.wants/vigied.service 2>/dev/null || true
  getent passwd vigie || true
  getent group vigie || true
  dpkg-statoverride --list /var/lib/vigie /etc/vigie/vigie.yaml 2>/dev/null || true
}
if [ -n "$(installed_status)" ] && [ "$(installed_status)" != "unknown ok not-installed" ]; then
  fail "a vigie package is known to dpkg here ($(installed_status)); this test would replace it"
fi
before=$(traces)
[ -z "$before" ] || fail "this machine already has vigie's files or user: $before"
accounts() { cat /etc/passwd /etc/group /etc/shadow /etc/gshadow | sha256sum; }
accounts_before=$(accounts)

work=$(mktemp -d /tmp/vigie-deb.XXXXXX)
chmod 755 "$work"
cleanup() {
  local rc=$?
  set +e
  if [ "$(installed_status)" != "unknown ok not-installed" ] && [ -n "$(installed_status)" ]; then
    dpkg -P vigie >/dev/null 2>&1 || dpkg --force-all -P vigie >/dev/null 2>&1
  fi
  # what a failed purge may have left (none of it was here before)
  getent passwd vigie >/dev/null && userdel vigie
  getent group vigie >/dev/null && groupdel vigie
  rm -rf /etc/vigie /var/lib/vigie "$dsh"/vigied.service.dsh-also \
    "$dsh"/multi-user.target.wants/vigied.service \
    /etc/systemd/system/multi-user.target.wants/vigied.service
  rm -rf "$work"
  if [ $rc -ne 0 ]; then
    say "failed after $(($(date +%s) - t0)) s; the machine is cleaned up"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. the package
say "cpack -G DEB in $build"
(cd "$build" && cpack -G DEB -B "$work/cpack" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack -G DEB"; }
debs=("$work"/cpack/vigie_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "cpack made no vigie_*.deb"
deb=${debs[0]}
say "built ${deb##*/} ($(stat -c %s "$deb") bytes)"
version=$(dpkg-deb -f "$deb" Version)
depends=$(dpkg-deb -f "$deb" Depends)
check "Package: vigie" [ "$(dpkg-deb -f "$deb" Package)" = vigie ]
check "Version $version is the project's ($("$build"/engine/daemon/vigied --version))" \
  [ "vigied $version" = "$("$build"/engine/daemon/vigied --version)" ]
for dep in adduser libc6 librdkafka1 liblmdb0 libjemalloc2 libsystemd0; do
  check "Depends names $dep" grep -qE "(^|, )$dep( |,|$)" <<<"$depends"
done
check "conffiles: /etc/vigie/vigie.yaml" \
  [ "$(dpkg-deb -I "$deb" conffiles)" = /etc/vigie/vigie.yaml ]
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/contents"
for f in /usr/bin/vigied /usr/bin/vigieq /usr/bin/vigie-gen \
  /lib/systemd/system/vigied.service /etc/vigie/vigie.yaml \
  /usr/share/man/man1/vigied.1.gz /usr/share/man/man1/vigieq.1.gz \
  /usr/share/man/man1/vigie-gen.1.gz /usr/share/doc/vigie/copyright \
  /usr/share/doc/vigie/changelog.gz /usr/share/doc/vigie/README.md \
  /usr/share/doc/vigie/docs/configuration.md; do
  check "contains $f" grep -qxF "$f" "$work/contents"
done
check "ships nothing in /var (postinst makes the store directory)" \
  eval '! grep -q "^/var" "$work/contents"'
lintian --fail-on error "$deb" >"$work/lintian.log" 2>&1 || lintian_rc=$?
grep -v 'running with root privileges' "$work/lintian.log" | sed 's/^/package: lintian: /' ||
  say "lintian: no tag (error, warning) at all"
check "lintian: no error" [ "${lintian_rc:-0}" -eq 0 ]

# ---- 2. installed
dpkg -i "$deb" </dev/null >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i"; }
check "dpkg -i: installed" [ "$(installed_status)" = "install ok installed" ]
check "the user vigie exists" eval 'getent passwd vigie >/dev/null'
IFS=: read -r _ _ uid gid _ home shell <<<"$(getent passwd vigie)"
check "vigie is a system user (uid $uid < 1000)" [ "$uid" -lt 1000 ]
check "vigie's group is vigie" [ "$(getent group "$gid" | cut -d: -f1)" = vigie ]
check "vigie's home is /var/lib/vigie" [ "$home" = /var/lib/vigie ]
check "vigie has no login shell ($shell)" [ "$shell" = /usr/sbin/nologin ]
check "/var/lib/vigie is vigie:vigie 0750" stat_is /var/lib/vigie vigie:vigie 750
check "/etc/vigie/vigie.yaml is root:vigie 0640" stat_is /etc/vigie/vigie.yaml root:vigie 640
check "the unit runs /usr/bin/vigied on /etc/vigie/vigie.yaml" \
  grep -qx 'ExecStart=/usr/bin/vigied --config /etc/vigie/vigie.yaml' \
  /lib/systemd/system/vigied.service
check "the unit is not enabled" \
  [ ! -e /etc/systemd/system/multi-user.target.wants/vigied.service ]
# systemd's own checker on the installed unit (needs no running systemd):
# directives, the executable, the user, the man page of Documentation=
check "systemd-analyze verify: the unit is valid" \
  systemd-analyze verify /lib/systemd/system/vigied.service
check "vigied --version is $version" [ "$(vigied --version)" = "vigied $version" ]
check "vigieq --help" eval 'vigieq --help >/dev/null'
check "vigie-gen --help" eval 'vigie-gen --help >/dev/null'
check "the man pages are gzip" gzip -t /usr/share/man/man1/vigied.1.gz \
  /usr/share/man/man1/vigieq.1.gz /usr/share/man/man1/vigie-gen.1.gz
check "vigied --check-config on /etc/vigie/vigie.yaml as vigie" \
  runuser -u vigie -- vigied --config /etc/vigie/vigie.yaml --check-config

# ---- 3. a store, as the service would write it
sed -e 's/^\(  brokers:\).*/\1 embedded/' -e 's/listen: 127.0.0.1:8080/listen: 127.0.0.1:0/' \
  /etc/vigie/vigie.yaml >"$work/embedded.yaml"
chmod 644 "$work/embedded.yaml"
runuser -u vigie -- timeout 60 vigied --config "$work/embedded.yaml" --drain \
  >"$work/drain.log" 2>&1 || { tail -20 "$work/drain.log"; fail "vigied --drain as vigie"; }
check "vigied as vigie made its store in /var/lib/vigie" \
  stat_is /var/lib/vigie/data.mdb vigie:vigie 640
runuser -u vigie -- sh -c 'echo "the store was here" >/var/lib/vigie/marker'
echo "# edited by tests/package/test_deb.sh" >>/etc/vigie/vigie.yaml
store_id=$(stat -c '%i %Y %s' /var/lib/vigie/data.mdb)

# ---- 4. removed
dpkg -r vigie </dev/null >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg -r"; }
check "dpkg -r: configuration files remain" [ "$(installed_status)" = "deinstall ok config-files" ]
check "the binaries and the unit are gone" eval '[ ! -e /usr/bin/vigied ] &&
  [ ! -e /usr/bin/vigieq ] && [ ! -e /usr/bin/vigie-gen ] && [ ! -e /lib/systemd/system/vigied.service ]'
check "the store survives (same data.mdb)" [ "$(stat -c '%i %Y %s' /var/lib/vigie/data.mdb)" = "$store_id" ]
check "the marker survives" grep -qx 'the store was here' /var/lib/vigie/marker
check "/var/lib/vigie is still vigie:vigie 0750" stat_is /var/lib/vigie vigie:vigie 750
check "the user vigie remains" eval 'getent passwd vigie >/dev/null'
check "the edited configuration remains" \
  grep -qx '# edited by tests/package/test_deb.sh' /etc/vigie/vigie.yaml

# ---- 5. installed again over what remained
dpkg -i "$deb" </dev/null >"$work/dpkg-i2.log" 2>&1 || { cat "$work/dpkg-i2.log"; fail "dpkg -i again"; }
check "installed again" [ "$(installed_status)" = "install ok installed" ]
check "the edit is kept" grep -qx '# edited by tests/package/test_deb.sh' /etc/vigie/vigie.yaml
check "no .dpkg-dist or .dpkg-new beside it" \
  eval '[ ! -e /etc/vigie/vigie.yaml.dpkg-dist ] && [ ! -e /etc/vigie/vigie.yaml.dpkg-new ]'
check "the same user (uid $uid)" [ "$(id -u vigie)" = "$uid" ]
check "vigieq reads the store that survived, as vigie" \
  eval 'runuser -u vigie -- vigieq --data-dir /var/lib/vigie status >"$work/status.log" 2>&1'
check "vigied --check-config still passes on the edited configuration" \
  runuser -u vigie -- vigied --config /etc/vigie/vigie.yaml --check-config

# ---- 6. purged
dpkg -P vigie </dev/null >"$work/dpkg-p.log" 2>&1 || { cat "$work/dpkg-p.log"; fail "dpkg -P"; }
check "dpkg -P: dpkg knows no vigie" \
  eval '[ -z "$(installed_status)" ] || [ "$(installed_status)" = "unknown ok not-installed" ]'
check "the user and group vigie are gone" \
  eval '! getent passwd vigie >/dev/null && ! getent group vigie >/dev/null'
check "/var/lib/vigie (the store) is gone" [ ! -e /var/lib/vigie ]
check "/etc/vigie is gone" [ ! -e /etc/vigie ]
check "no trace left (d-s-h state, statoverrides, dpkg's files)" [ -z "$(traces)" ]
check "/etc/passwd, group, shadow, gshadow as before" [ "$(accounts)" = "$accounts_before" ]
say "passed in $(($(date +%s) - t0)) s"
