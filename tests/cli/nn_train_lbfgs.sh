#!/usr/bin/env bash
# nn-train --optimizer lbfgs: full-batch L-BFGS, one step of --max-iter iterations per epoch.
# The training loss falls from its start, never rises from one epoch to the next (every
# accepted step of the line search lowers it), the counts on the last line add up, float32
# works, and the options that do not go with it are usage errors naming the option.
# Usage: bash tests/cli/nn_train_lbfgs.sh <build>/bin        A few seconds.
source "$(dirname "$0")/../lib.bash"  # fail, run, key, num, ge, lt; AD_TMP
BIN="${1:?usage: nn_train_lbfgs.sh <bin dir>}"
BIN=$(cd "$BIN" && pwd) || { echo "FAIL: no directory $1"; exit 1; }
TRAIN="$BIN/nn-train"
[ -x "$TRAIN" ] || { echo "FAIL: $TRAIN not found"; exit 1; }
cd "$AD_TMP"
has() { printf '%s' "$1" | grep -q -- "$2"; }

# 1. --help names the optimizer and its options.
run "$TRAIN" --help
for w in lbfgs --max-iter --max-eval --history-size --line-search --tolerance-grad --tolerance-change; do
  has "$OUT" "$w" || fail "nn-train --help does not mention $w"
done

# 2. Iris, 6 epochs of at most 8 iterations: the loss falls from about log 3 at the start.
run "$TRAIN" --data iris --optimizer lbfgs --max-iter 8 --epochs 6 --history h.csv --quiet
[ "$RC" = 0 ] || fail "iris lbfgs exit $RC: $ERR"
has "$OUT" "lbfgs lr 1, full batch, 8 iterations per epoch, 6 epochs" || fail "model line: $OUT"
summary=$(printf '%s\n' "$OUT" | grep '^lbfgs: ')
start=$(printf '%s\n' "$summary" | sed -n 's/.*training loss \([^ ]*\) -> .*/\1/p')
end=$(printf '%s\n' "$summary" | sed -n 's/.*training loss [^ ]* -> \([^;]*\);.*/\1/p')
echo "lbfgs summary: $summary"
ge "$start" 0.9 || fail "the start loss $start should be about log 3 = 1.0986: $summary"
lt "$end" 0.1 || fail "the loss after 6 epochs, $end, should be below 0.1: $summary"
its=$(key lbfgs_iterations) evals=$(key lbfgs_evaluations)
num "$its" && num "$evals" || fail "no lbfgs_iterations / lbfgs_evaluations on the last line: $LAST"
[ "$(key epochs)" = 6 ] || fail "epochs: $LAST"
awk -v i="$its" -v e="$evals" 'BEGIN { exit !(i >= 6 && i <= 48 && e >= i) }' ||
  fail "iterations $its (6 epochs of at most 8) and evaluations $evals (at least one per iteration)"
ge "$(key train_accuracy)" 0.95 || fail "train_accuracy: $LAST"
# the history: 6 epochs, the loss never higher than the epoch before
[ "$(wc -l < h.csv)" = 7 ] || fail "h.csv should have a header and 6 rows"
awk -F, 'NR > 2 && $2 > prev + 1e-12 { bad = 1 } NR > 1 { prev = $2 } END { exit bad }' h.csv ||
  fail "the epoch loss rose: $(cut -d, -f1,2 h.csv | tr '\n' ' ')"
# the last line's train_loss is the history's last loss
awk -F, -v t="$(key train_loss)" 'END { exit !(($2 - t) < 5e-5 && (t - $2) < 5e-5) }' h.csv ||
  fail "train_loss=$(key train_loss) is not the last epoch's loss $(tail -n 1 h.csv)"

# 3. float32, fixed steps, and a regression: all lower the loss.
run "$TRAIN" --data iris --optimizer lbfgs --epochs 3 --float --quiet
[ "$RC" = 0 ] && lt "$(key train_loss)" 0.2 || fail "float32: $RC $LAST $ERR"
run "$TRAIN" --data iris --optimizer lbfgs --line-search none --lr 0.5 --epochs 3 --quiet
[ "$RC" = 0 ] || fail "--line-search none exit $RC: $ERR"
has "$OUT" "(fixed steps)" || fail "--line-search none: not in the model line"
lt "$(key train_loss)" 0.9 || fail "fixed steps: train_loss $(key train_loss) should be below the start (about 1.1)"
[ "$(key lbfgs_evaluations)" = 60 ] || fail "fixed steps: one evaluation per iteration but the last of each epoch: $LAST"
awk 'BEGIN { srand(5); print "x0,x1,y";
  for (i = 0; i < 200; i++) { a = rand() * 2 - 1; b = rand() * 2 - 1; print a "," b "," (2 * a - b + 0.5) } }' > reg.csv
run "$TRAIN" --data reg.csv --task regression --layers 2,8,1 --hidden tanh --optimizer lbfgs --epochs 5 --quiet
[ "$RC" = 0 ] && ge "$(key test_r2)" 0.99 || fail "regression: $RC $LAST $ERR"

# 4. What does not go with it: exit 2, the option named.
run "$TRAIN" --data iris --optimizer lbfgs --batch 32
[ "$RC" = 2 ] && has "$ERR" "nn-train: --batch does not go with --optimizer lbfgs: it trains on the whole training set" ||
  fail "--batch with lbfgs: $RC $ERR"
run "$TRAIN" --data iris --optimizer lbfgs --clip-value 1
[ "$RC" = 2 ] && has "$ERR" "--clip-value does not go with --optimizer lbfgs" || fail "--clip-value: $RC $ERR"
run "$TRAIN" --data iris --optimizer lbfgs --weight-decay 0.01
[ "$RC" = 2 ] && has "$ERR" "use --l2" || fail "--weight-decay: $RC $ERR"
run "$TRAIN" --data iris --optimizer lbfgs --dropout 0.2
[ "$RC" = 2 ] && has "$ERR" "--dropout makes the loss random" || fail "--dropout: $RC $ERR"
run "$TRAIN" --data iris --optimizer adam --max-iter 5
[ "$RC" = 2 ] && has "$ERR" "nn-train: --max-iter applies to --optimizer lbfgs only (not adam)" || fail "--max-iter with adam: $RC $ERR"
run "$TRAIN" --data iris --optimizer lbfgs --history-size 0
[ "$RC" = 2 ] && has "$ERR" "--history-size: '0' is not a whole number >= 1" || fail "--history-size 0: $RC $ERR"
run "$TRAIN" --data iris --optimizer lbfgs --line-search backtracking
[ "$RC" = 2 ] && has "$ERR" "--line-search: 'backtracking' is not one of: strong_wolfe, none" ||
  fail "--line-search: $RC $ERR"
# an infinite loss stops the run (exit 1) with the epoch named
run "$TRAIN" --data reg.csv --task regression --layers 2,8,1 --optimizer lbfgs --line-search none --lr 1e10 --epochs 3 --quiet
[ "$RC" = 1 ] && has "$ERR" "the loss became inf at epoch 1" && has "$ERR" "--line-search strong_wolfe" ||
  fail "lr 1e10 with fixed steps: $RC $ERR"

if [ "$fails" -gt 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "nn_train_lbfgs.sh: all passed"
