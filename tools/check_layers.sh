#!/bin/sh
# Checks that the engine's modules depend on each other in one direction.
#
#   common                    error, log, hash, text, tz, metrics, positions
#     <- codec                raw message bytes -> events
#     <- agg                  accumulators, windows, watermarks, workers
#          <- store           the LMDB store
#     <- serve                the HTTP server
#     <- ingest               the Kafka client and dead letters
#   store, serve <- publish   datasets, the open-data API, exports, rollups
#   daemon                    wires all of them (vigied, config, engine)
#
# A module may include the public headers (include/vigie/X.h) of the
# modules listed for it below, and its own. A public header belongs to the
# module whose directory holds X.c (or to the one the table below names)
# and obeys its module's rule too. Internal headers live beside their .c
# (engine/M/x.h, included as "M/x.h") and only module M includes them --
# except common's (engine/common/atomic.h, bytes.h, tzif.h), which every
# module may use, being below all of them; the tools include public headers
# only.
#
# Usage: tools/check_layers.sh [SOURCE_DIR]. Prints each violation and
# exits 1 when there is one. Run by CTest as `layers`.
set -u
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 2

# What each module may depend on (besides itself).
allowed() {
  case $1 in
  common) echo "" ;;
  codec) echo "common" ;;
  agg) echo "common" ;;
  store) echo "common agg" ;;
  serve) echo "common" ;;
  ingest) echo "common" ;;
  publish) echo "common agg store serve" ;;
  daemon) echo "common codec agg store serve ingest publish" ;;
  *) echo "?" ;;
  esac
}

# The module of a public header: the directory of its .c, else this table.
owner() {
  case $1 in
  publish) echo publish; return ;; # publish.h: format.c
  array) echo common; return ;; # VG_GROW; its slow path is array.c
  esac
  for m in common codec agg store serve ingest publish daemon; do
    if [ -f "engine/$m/$1.c" ]; then
      echo "$m"
      return
    fi
  done
  echo "?"
}

bad=0
fail() {
  echo "check_layers: $*"
  bad=1
}

# check FILE MODULE: the includes of FILE, written in MODULE
check() {
  for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$1"); do
    case $inc in
    vigie/*.h)
      h=${inc#vigie/}
      h=${h%.h}
      [ -f "include/$inc" ] || continue # a generated or moved header
      o=$(owner "$h")
      if [ "$o" = "?" ]; then
        fail "$1: include/$inc belongs to no module (add it to owner() in $0)"
      elif [ "$2" = tools ]; then
        :
      elif [ "$o" != "$2" ]; then
        case " $(allowed "$2") " in
        *" $o "*) ;;
        *)
          deps=$(allowed "$2")
          fail "$1 ($2) includes $inc ($o): $2 may depend on: ${deps:-nothing}"
          ;;
        esac
      fi
      ;;
    */*.h)
      im=${inc%%/*}
      if [ -d "engine/$im" ] && [ "$im" != "$2" ] &&
        { [ "$im" != common ] || [ "$2" = tools ]; }; then
        fail "$1 ($2) includes $inc, an internal header of $im"
      fi
      ;;
    esac
  done
}

for d in engine/*/; do
  m=$(basename "$d")
  [ "$(allowed "$m")" = "?" ] && fail "engine/$m: a module the rules do not know"
  for f in "$d"*.c "$d"*.h; do
    [ -f "$f" ] && check "$f" "$m"
  done
done
for f in include/vigie/*.h; do
  h=$(basename "$f" .h)
  o=$(owner "$h")
  if [ "$o" = "?" ]; then
    fail "$f belongs to no module (add it to owner() in $0)"
  else
    check "$f" "$o"
  fi
done
for f in tools/*.c tools/*.h; do
  [ -f "$f" ] && check "$f" tools
done
[ "$bad" = 0 ] && echo "check_layers: the modules depend on each other in one direction"
exit "$bad"
