#!/usr/bin/env bash
# examples/logistic_newton (logistic regression on the breast-cancer data by Newton-Raphson with
# the exact Hessian, L-BFGS and gradient descent): Newton converges in fewer than 15 iterations to
# a gradient norm below 1e-8; the tape's Hessian equals X^T W X / n + lambda I; the three methods
# reach the same cost (within 1e-8) and a test accuracy of at least 0.95.
source "$(dirname "$0")/common.bash"
run_example logistic_newton
# below MAX: the figure NAME of the last line is a number < MAX
below() {
  local v
  v=$(key "$1")
  lt "$v" "$2" || { fail "$1=${v:-missing}, want < $2"; return 1; }
  echo "ok: $1=$v < $2"
}
below newton_iterations 15
below newton_grad_norm 1e-8
below lbfgs_grad_norm 1e-8
below gd_grad_norm 1.0000001e-6
below hessian_max_err 1e-12
below loss_spread 1e-8
for m in newton lbfgs gd; do at_least ${m}_test_accuracy 0.95; done
# the spread recomputed from the three losses, so a wrong loss_spread cannot hide a disagreement
a=$(key newton_loss) b=$(key lbfgs_loss) c=$(key gd_loss)
if num "$a" && num "$b" && num "$c"; then
  awk -v a="$a" -v b="$b" -v c="$c" 'function abs(x) { return x < 0 ? -x : x }
    BEGIN { exit !(abs(a - b) <= 1e-8 && abs(a - c) <= 1e-8) }' ||
    fail "the final losses differ by more than 1e-8: newton $a, lbfgs $b, gd $c"
  echo "ok: final losses newton $a, lbfgs $b, gd $c"
else
  fail "newton_loss, lbfgs_loss or gd_loss missing: $LAST"
fi
# Newton's last rows: the ratio |g_k| / |g_k-1|^2 stays bounded (quadratic convergence)
ratios=$(printf '%s\n' "$OUT" | awk '/^Newton-Raphson \(H/ { on = 1; next } on && /^stopped:/ { exit }
  on && $1 ~ /^[0-9]+$/ && NF == 6 { print $6 }')
[ -n "$ratios" ] || fail "no Newton iteration rows with a ratio in the output"
last3=$(printf '%s\n' "$ratios" | tail -n 3 | tr '\n' ' ')
for r in $last3; do
  lt "$r" 100 || fail "Newton's |g_k| / |g_k-1|^2 = $r in the last iterations (want < 100: quadratic convergence)"
done
echo "ok: Newton's last ratios |g_k| / |g_k-1|^2: $last3"
finish
