#!/usr/bin/env bash
# The real CLI side by side, one run (README "Benchmarks", issue 19's levers): the store's
# first and second backup beside --single-file and restic, then restore of the newest point
# with THERABAK_WORKERS=1 and 2 beside restic restore and cp -r. Run it in the venv therabak
# is installed in; restic and GNU time must be installed.
#   PRACTICE=/path/with/Data+account.key  (default /tmp/sread/bench2g/practice)
#   BEFORE=/path/to/an/older/checkout/tui (optional: the same commands with that code too)
#   WORK=/tmp/therabak-cli-bench  ROUNDS=1 (restore rounds)
# The page cache is dropped before each command where that is allowed (root).
set -u
P=${PRACTICE:-/tmp/sread/bench2g/practice}
W=${WORK:-/tmp/therabak-cli-bench}; rm -rf "$W"; mkdir -p "$W"
export THERABAK_DATA_DIR=$P/Data THERABAK_ACCOUNT_KEY=$P/account.key
export XDG_STATE_HOME=$W/state XDG_CONFIG_HOME=$W/config XDG_CACHE_HOME=$W/cache
export PW="bench password for the store" RESTIC_PASSWORD="bench password for the store"
export RESTIC_CACHE_DIR=$W/restic-cache
t() {
  local name=$1; shift; sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
  local s e e2 rss us sy rc; s=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$W/rss" "$@" >"$W/$name.out" 2>"$W/$name.err"; rc=$?
  e=$(date +%s.%N); sync; e2=$(date +%s.%N); read -r rss us sy < "$W/rss"
  printf "%-18s rc=%d wall=%6.2fs (+sync %5.2fs) user %5.2f sys %5.2f rss=%6.1fMB\n" "$name" $rc \
    "$(echo "$e-$s" | bc)" "$(echo "$e2-$e" | bc)" "$us" "$sy" "$(echo "$rss/1024" | bc -l)"
}
before() { if [ -n "${BEFORE:-}" ]; then PYTHONPATH=$BEFORE t "$@"; fi; }
ref() { therabak list --in "$1" --json 2>/dev/null | python -c "import sys, json
d = json.load(sys.stdin)
print([p['ref'] for p in d['points'] if p.get('format') == 'store'][0])"; }
echo "start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) cores $(nproc)"
restic --repo "$W/restic" --quiet init >/dev/null
before store_first_before therabak backup --dest "$W/stick-before" --password-env PW
t store_first therabak backup --dest "$W/stick" --password-env PW
t single_file therabak backup --single-file --dest "$W/single" --password-env PW
t restic_first restic --repo "$W/restic" --quiet backup "$P/Data"
for _i in 1 2; do
  before store_second_before therabak backup --dest "$W/stick-before" --password-env PW
  t store_second therabak backup --dest "$W/stick" --password-env PW
  t restic_second restic --repo "$W/restic" --quiet backup "$P/Data"
done
R=$(ref "$W/stick"); RB=""
if [ -n "${BEFORE:-}" ]; then RB=$(PYTHONPATH=$BEFORE ref "$W/stick-before"); fi
for _i in $(seq "${ROUNDS:-1}"); do
  t cp_r cp -r "$P/Data" "$W/out"; rm -rf "$W/out"
  t restic_restore restic --repo "$W/restic" --quiet restore latest --target "$W/out"; rm -rf "$W/out"
  if [ -n "$RB" ]; then before restore_before therabak restore "$RB" --to "$W/out" --password-env PW --yes; rm -rf "$W/out"; fi
  for w in 1 2; do
    THERABAK_WORKERS=$w t "restore_w$w" therabak restore "$R" --to "$W/out" --password-env PW --yes
    rm -rf "$W/out"
  done
done
echo "end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
du -sh "$W"/stick* "$W/single" "$W/restic"
