# Shared by the example tests (tests/examples/*.sh), sourced, not a test itself. Each test runs
# one built example program with its real configuration and asserts the headline figures of its
# last line (key=value pairs) and its exit code. Usage of a test: bash <test>.sh <build>/bin
source "$(dirname "${BASH_SOURCE[0]}")/../lib.bash"  # fail, key, num; AD_TMP
BIN="${1:?usage: $0 <bin dir>}"
ERRFILE="$AD_TMP/err"

# run_example NAME ARGS...: runs $BIN/NAME; sets OUT (stdout), ERR (stderr), RC, LAST (last line of
# stdout) and SECS (wall time); prints the command, its stdout and its time.
run_example() {
  local name=$1
  shift
  [ -x "$BIN/$name" ] || { echo "FAIL: $BIN/$name not found (build the examples)"; exit 1; }
  echo "== $name $*"
  local t0 t1
  t0=$(date +%s.%N)
  OUT=$("$BIN/$name" "$@" 2>"$ERRFILE"); RC=$?
  t1=$(date +%s.%N)
  ERR=$(cat "$ERRFILE")
  LAST=$(printf '%s\n' "$OUT" | tail -n 1)
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  printf '%s\n' "$OUT"
  echo "== $name $*: exit $RC, $SECS s"
  if [ "$RC" != 0 ]; then
    fail "$name $* exited $RC; the end of its stderr:"
    printf '%s\n' "$ERR" | tail -n 20
  fi
  printf '%s\n' "$LAST" | grep -Eq '^([a-z_0-9]+=[^ ]+ )*[a-z_0-9]+=[^ ]+$' ||
    fail "$name $*: the last line is not key=value pairs: $LAST"
}
# at_least NAME MIN: the figure NAME of the last line is a number >= MIN
at_least() {
  local v
  v=$(key "$1")
  num "$v" || { fail "no number $1= in the last line: $LAST"; return 1; }
  awk -v a="$v" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }' || { fail "$1=$v, want >= $2"; return 1; }
  echo "ok: $1=$v >= $2"
}
finish() {
  if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
