#!/usr/bin/env bash
# CLI tests of adiff: output formats, --json exactness, finite-difference check, tape printout,
# errors and exit codes. Usage: bash tests/cli/adiff.sh <build>/bin
# Expected numbers are computed here with awk from the hand-derived formulas, not copied from
# adiff's output.
set -u
BIN="${1:?usage: adiff.sh <bin dir>}"
ADIFF="$BIN/adiff"
fails=0
pass() { :; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run CMD...: sets OUT, ERR, RC
run() {
  OUT=$("$@" 2>/tmp/adiff_err.$$); RC=$?
  ERR=$(cat /tmp/adiff_err.$$); rm -f /tmp/adiff_err.$$
}
# ok WHAT: the last run exited 0 and printed something on stdout (a check that reads an empty
# output must not pass because awk reads "" as 0)
ok() {
  [ "$RC" = 0 ] || { fail "$1: exit $RC: $ERR"; return 1; }
  [ -n "$OUT" ] || { fail "$1: no output"; return 1; }
}
# close GOT WANT [REL]: relative comparison with awk; GOT must be a number (empty, nan or text fail)
close() {
  printf '%s' "$1" | grep -Eq '^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$' || { echo "not a number: '$1'"; return 1; }
  awk -v g="$1" -v w="$2" -v r="${3:-1e-12}" 'BEGIN { d = g - w; if (d < 0) d = -d; s = w < 0 ? -w : w; if (s < 1) s = 1; exit !(d <= r * s) }'
}
json_field() {  # json_field KEY TEXT: the number after "KEY":
  printf '%s' "$2" | sed -n "s/.*\"$1\": \([-+0-9.eE]*\).*/\1/p"
}

[ -x "$ADIFF" ] || { echo "FAIL: $ADIFF not found"; exit 1; }

# 1. The course example, human format: value and derivative.
run "$ADIFF" 'sqrt(x^2 + exp(x^2))' --at x=1.5
ok "course example"
want_f=$(awk 'BEGIN { x = 1.5; printf "%.17g", sqrt(x*x + exp(x*x)) }')
want_d=$(awk 'BEGIN { x = 1.5; b = exp(x*x); printf "%.17g", x*(1+b)/sqrt(x*x+b) }')
got_f=$(printf '%s\n' "$OUT" | sed -n 's/^f  *= //p')
got_d=$(printf '%s\n' "$OUT" | sed -n 's/^df\/dx *= //p')
close "$got_f" "$want_f" || fail "value $got_f != $want_f"
close "$got_d" "$want_d" || fail "df/dx $got_d != $want_d"

# 2. --json: exact shape, 17 significant digits, two variables.
run "$ADIFF" 'x*y + sin(x)' --at x=1,y=2 --json
ok "json"
printf '%s' "$OUT" | grep -Eq '^\{"value": [-0-9.e+]+, "gradient": \{"x": [-0-9.e+]+, "y": [-0-9.e+]+\}\}$' \
  || fail "json shape: $OUT"
v=$(json_field value "$OUT"); gx=$(json_field x "$OUT"); gy=$(json_field y "$OUT")
close "$v" "$(awk 'BEGIN { printf "%.17g", 2 + sin(1) }')" || fail "json value $v"
close "$gx" "$(awk 'BEGIN { printf "%.17g", 2 + cos(1) }')" || fail "json df/dx $gx"
close "$gy" 1 || fail "json df/dy $gy"
digits=$(printf '%s' "$v" | sed 's/[-.]//g; s/e.*//; s/^0*//')
[ "${#digits}" -ge 16 ] || fail "json value should have 17 significant digits: $v"
# python3 is installed by .ci/install-deps for exactly these parser checks
printf '%s' "$OUT" | python3 -c 'import json,sys; json.load(sys.stdin)' || fail "json does not parse"

# 3. --at given twice, --at=, order of the gradient follows --at.
run "$ADIFF" 'x - 2*y' --at y=3 --at=x=1 --json
ok "--at twice"
printf '%s' "$OUT" | grep -q '"gradient": {"y": -2, "x": 1}' || fail "gradient order/values: $OUT"

# 4. --check: finite difference and difference per variable, small.
run "$ADIFF" 'exp(x)*y' --at x=0.5,y=3 --check
ok "--check"
printf '%s\n' "$OUT" | grep -q 'finite difference' || fail "check prints no finite difference"
diffs=$(printf '%s\n' "$OUT" | sed -n 's/.*difference = \([-+0-9.e]*\)$/\1/p')
[ "$(printf '%s\n' "$diffs" | wc -l)" = 2 ] || fail "check: one difference per variable: $OUT"
for d in $diffs; do close "$d" 0 1e-6 || fail "check difference too large: $d"; done

# 5. --tape: one line per node with op, value and adjoint; output adjoint 1.
run "$ADIFF" 'sqrt(x^2 + exp(x^2))' --at x=1.5 --tape
ok "--tape"
for op in var exp add sqrt; do printf '%s\n' "$OUT" | grep -Eq "^ +[0-9]+  $op" || fail "tape lacks $op"; done
last=$(printf '%s\n' "$OUT" | grep -E '^ +[0-9]+  sqrt' | awk '{ print $NF }')
[ "$last" = 1 ] || fail "output node adjoint should be 1, got '$last'"

# 6. --dot: a Graphviz digraph.
run "$ADIFF" 'x*y' --at x=1,y=2 --dot
ok "--dot"
printf '%s\n' "$OUT" | head -1 | grep -q '^digraph' || fail "dot output: $OUT"
printf '%s\n' "$OUT" | grep -q -- '->' || fail "dot has no edges"

# 7. --help exits 0.
run "$ADIFF" --help
ok "--help"
printf '%s' "$OUT" | grep -q 'usage: adiff' || fail "--help does not print the usage: $OUT"

# 8. Syntax error: expression and caret, exit 2.
run "$ADIFF" 'x + * 2' --at x=1
[ "$RC" = 2 ] || fail "syntax error exit $RC"
printf '%s\n' "$ERR" | grep -qx 'x + \* 2' || fail "syntax error does not echo the expression: $ERR"
printf '%s\n' "$ERR" | grep -qx '    ^' || fail "caret not under column 5: $ERR"
printf '%s\n' "$ERR" | grep -q 'column 5' || fail "column not named: $ERR"

# 9. Unknown function named, exit 2.
run "$ADIFF" 'foo(x) + 1' --at x=1
[ "$RC" = 2 ] && printf '%s' "$ERR" | grep -q "unknown function 'foo'" || fail "unknown function: $RC $ERR"

# 10. Variable without value named, exit 2.
run "$ADIFF" 'x + y' --at x=1
[ "$RC" = 2 ] && printf '%s' "$ERR" | grep -q "'y' has no value" || fail "missing variable: $RC $ERR"

# 11. Domain errors: nan and a warning naming the op, exit 0.
run "$ADIFF" 'log(x)' --at x=-1
ok "log(-1)"
printf '%s\n' "$OUT" | grep -Eq '^f +=  ?nan$' || fail "log(-1) should print nan: $OUT"
printf '%s' "$ERR" | grep -q 'warning' && printf '%s' "$ERR" | grep -q 'log' || fail "log(-1) warning: $ERR"
run "$ADIFF" 'sqrt(-1) + x' --at x=2 --json
ok "sqrt(-1)"
printf '%s' "$OUT" | grep -q '"value": null' || fail "nan in json should be null: $OUT"
printf '%s' "$ERR" | grep -q 'sqrt' || fail "sqrt(-1) warning: $ERR"

# 12. Bad usage: no expression, bad --at, unknown option, constant as variable: exit 2.
for args in "" "x --at x" "x --at x=abc" "x --at 1x=2" "x --bogus" "e --at e=1" "x --at x=1,x=2" "x --at" "x y --at x=1" \
            "x --json=1 --at x=1" "x --at x=1 --bogus --help"; do
  # shellcheck disable=SC2086
  run "$ADIFF" $args
  [ "$RC" = 2 ] || fail "'adiff $args' should exit 2, got $RC"
  [ -n "$ERR" ] || fail "'adiff $args' should explain on stderr"
done

# 13. Constants and -x^2.
run "$ADIFF" '-x^2 + pi' --at x=3 --json
ok "-x^2 + pi"
v=$(json_field value "$OUT"); gx=$(json_field x "$OUT")
close "$v" "$(awk 'BEGIN { printf "%.17g", -9 + atan2(0, -1) }')" || fail "-x^2+pi value $v"
close "$gx" -6 || fail "-x^2 derivative $gx"

# 14. A constant value expression in --at.
run "$ADIFF" 'sin(x)' --at x=pi/2 --json
ok "--at x=pi/2"
gx=$(json_field x "$OUT")
close "$gx" 0 1e-15 || fail "cos(pi/2) = $gx"

# --hessian: the matrix with named rows and columns, its JSON object, and --check.
# f = x^2 y + sin(y) at (0.5, -2): H = [[2y, 2x], [2x, -sin y]] = [[-4, 1], [1, sin 2]].
run "$ADIFF" 'x^2*y + sin(y)' --at x=0.5,y=-2 --hessian
ok "hessian"
printf '%s\n' "$OUT" | grep -q '^hessian d2f/d(row) d(column):$' || fail "hessian header: $OUT"
hx=$(printf '%s\n' "$OUT" | awk '$1 == "x" && NF == 3 { print $2, $3 }')
hy=$(printf '%s\n' "$OUT" | awk '$1 == "y" && NF == 3 { print $2, $3 }')
[ "$hx" = "-4 1" ] || fail "hessian row x: '$hx' in $OUT"
close "${hy#1 }" "$(awk 'BEGIN { printf "%.17g", sin(2) }')" 1e-15 || fail "hessian row y: '$hy'"
[ "${hy%% *}" = 1 ] || fail "hessian row y, column x: '$hy'"
run "$ADIFF" 'x^2*y + sin(y)' --at x=0.5,y=-2 --hessian --json
ok "hessian json"
printf '%s' "$OUT" | grep -Eq '"hessian": \{"x": \{"x": -4, "y": 1\}, "y": \{"x": 1, "y": 0.9092974268256817[0-9]*\}\}\}$' \
  || fail "hessian json: $OUT"
run "$ADIFF" 'exp(x*y) + log(z)' --at x=0.3,y=-1,z=2,unused=1 --hessian --check --json
ok "hessian check"
d=$(json_field max_diff "$OUT")
close "$d" 0 1e-6 || fail "hessian check: max_diff $d: $OUT"
printf '%s' "$OUT" | grep -q '"unused": {"x": 0, "y": 0, "z": 0, "unused": 0}' || fail "hessian: unused variable row: $OUT"

if [ "$fails" -ne 0 ]; then echo "$fails adiff CLI check(s) failed"; exit 1; fi
echo "adiff CLI: all checks passed"
