#!/usr/bin/env bash
# examples/rosenbrock_lbfgs: L-BFGS takes the extended Rosenbrock function (n = 100) from
# (-1.2, 1, ...) to its minimum x = (1, ..., 1): gradient norm below 1e-8, every x_i within 1e-6
# of 1, in tens of iterations. Checked on the last line and recomputed from the progress table
# (its last row is the last iteration, with the same f and |grad|).
source "$(dirname "$0")/common.bash"
run_example rosenbrock_lbfgs
[ "$(key stop)" = gradient ] || fail "stop=$(key stop), want gradient (the tolerance on the gradient reached)"
lt "$(key grad_norm)" 1e-8 || fail "grad_norm=$(key grad_norm), want < 1e-8"
lt "$(key max_error)" 1e-6 || fail "max_error=$(key max_error), want < 1e-6"
lt "$(key f)" 1e-12 || fail "f=$(key f), want < 1e-12"
its=$(key iterations) evals=$(key evaluations)
awk -v i="$its" -v e="$evals" 'BEGIN { exit !(i >= 20 && i <= 60 && e >= i && e <= 2 * i) }' ||
  fail "iterations=$its evaluations=$evals: want 20..60 iterations and 1..2 evaluations each"
row=$(printf '%s\n' "$OUT" | awk '$1 ~ /^[0-9]+$/ && NF == 5 { r = $0 } END { print r }')
set -- $row
[ "${1:-}" = "$its" ] && [ "${2:-}" = "$evals" ] || fail "the table's last row '$row' is not iteration $its, $evals evaluations"
awk -v a="${3:-x}" -v b="$(key f)" 'BEGIN { exit !(a + 0 > 0 && (a - b) * (a - b) <= (1e-3 * b) * (1e-3 * b)) }' ||
  fail "the table's last f ${3:-} differs from f=$(key f)"
echo "ok: $its iterations, $evals evaluations, f=$(key f), grad_norm=$(key grad_norm), max_error=$(key max_error)"
finish
