# Shell helpers of the script tests (tests/cli/*.sh, tests/examples/*.sh), sourced, not a test.
# They check what a program printed: its exit code, its stderr, and the key=value pairs of its
# last line, where an empty or missing figure fails (awk would read "" as 0).
set -u
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# A scratch folder for the test, removed at exit.
AD_TMP=$(mktemp -d)
trap 'rm -rf "$AD_TMP"' EXIT
# run CMD...: sets OUT (stdout), ERR (stderr), RC and LAST (the last line of stdout)
run() {
  OUT=$("$@" 2>"$AD_TMP/err"); RC=$?
  ERR=$(cat "$AD_TMP/err")
  LAST=$(printf '%s\n' "$OUT" | tail -n 1)
}
# key NAME: the value of NAME= in LAST (empty if absent)
key() { printf '%s\n' "$LAST" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# num TEXT: TEXT is a number
num() { printf '%s' "$1" | grep -Eq '^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$'; }
# ge A B / lt A B: A is a number and A >= B / A < B
ge() { num "$1" && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
lt() { num "$1" && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
