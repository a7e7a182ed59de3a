#!/usr/bin/env bash
# examples/regression (2-32-32-1 tanh, Adam, cosine schedule): the test MSE falls at least
# 100-fold from the untrained network's. Checked on the printed fold and recomputed from
# initial_mse and final_mse.
source "$(dirname "$0")/common.bash"
run_example regression
at_least fold 100
init=$(key initial_mse) final=$(key final_mse)
if num "$init" && num "$final"; then
  awk -v i="$init" -v f="$final" 'BEGIN { exit !(i > 0 && i >= 100 * f) }' ||
    fail "initial_mse=$init final_mse=$final: not a 100-fold fall"
  echo "ok: initial_mse=$init final_mse=$final"
else
  fail "initial_mse or final_mse missing: $LAST"
fi
finish
