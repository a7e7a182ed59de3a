#!/usr/bin/env bash
# CLI tests of nn-train's divergence check (issue 13): --lr 100 on the digits used to exit 0 with
# test accuracy 0.1 and no word of warning; now it exits 1 naming the epoch, the loss and the fix
# (lower --lr), and --no-divergence-check restores the old behaviour. A grid search shows a
# diverging cell as n/a and goes on. Every run is well under a second.
# Usage: bash tests/cli/nn_train_divergence.sh <build>/bin
source "$(dirname "$0")/../lib.bash"  # fail, run, key, num, ge, lt; AD_TMP
BIN="${1:?usage: nn_train_divergence.sh <bin dir>}"
BIN=$(cd "$BIN" && pwd) || { echo "FAIL: no directory $1"; exit 1; }
TRAIN="$BIN/nn-train"
[ -x "$TRAIN" ] || { echo "FAIL: $TRAIN not found"; exit 1; }
TMP=$AD_TMP
cd "$TMP"

# has TEXT STRING: TEXT contains STRING
has() { printf '%s' "$1" | grep -qF -- "$2"; }

# 1. The blow-up: lr 100, cross-entropy stays finite (loss ~37 at epoch 1, 16x chance).
run "$TRAIN" --data digits --lr 100 --epochs 20 --quiet --save m.model
[ "$RC" = 1 ] || fail "nn-train --lr 100: exit $RC, expected 1 (diverged); stdout: $LAST"
has "$ERR" "nn-train: training diverged at epoch 1: the loss " || fail "--lr 100: message does not name the epoch: $ERR"
has "$ERR" "is more than 10 times its start" || fail "--lr 100: message does not name the rule: $ERR"
has "$ERR" "lower --lr (it is 100)" || fail "--lr 100: message does not name the fix: $ERR"
has "$ERR" "--no-divergence-check trains on regardless" || fail "--lr 100: message does not name the option: $ERR"
[ "$(printf '%s\n' "$ERR" | grep -c .)" = 1 ] || fail "--lr 100: expected one line on stderr, got: $ERR"
has "$OUT" "test_accuracy=" && fail "--lr 100: a result line was printed after the divergence: $LAST"
[ -e m.model ] && fail "--lr 100: a diverged model was saved"

# 2. Turned off: the old behaviour, exit 0 and chance-level accuracy.
run "$TRAIN" --data digits --lr 100 --epochs 20 --quiet --no-divergence-check
[ "$RC" = 0 ] || fail "--lr 100 --no-divergence-check: exit $RC, expected 0; stderr: $ERR"
acc=$(key test_accuracy)
lt "$acc" 0.3 || fail "--lr 100 --no-divergence-check: test_accuracy '$acc', expected chance level (< 0.3)"

# 3. The stall: relu units killed by lr 10 leave the loss just above log 10 for good.
run "$TRAIN" --data digits --hidden relu --lr 10 --epochs 100 --quiet
[ "$RC" = 1 ] || fail "--hidden relu --lr 10: exit $RC, expected 1; stdout: $LAST"
has "$ERR" "for 10 epochs and is no better than chance, 2.303 (log 10 for 10 classes)" ||
  fail "--hidden relu --lr 10: message does not name the stall: $ERR"
has "$ERR" "lower --lr (it is 10)" || fail "--hidden relu --lr 10: message does not name the fix: $ERR"

# 4. An infinite loss: targets of 1e200 squared overflow; the option does not turn this off.
printf 'a,b,y\n1,2,1e200\n1,3,2e200\n3,1,0\n2,2,1\n' > inf.csv
run "$TRAIN" --data inf.csv --task regression --test-fraction 0 --epochs 5 --quiet --no-divergence-check
[ "$RC" = 1 ] || fail "infinite loss: exit $RC, expected 1; stdout: $LAST"
has "$ERR" "nn-train: the loss became inf at epoch 1, batch 1; lower --lr (it is 0.1)" || fail "infinite loss: message: $ERR"
has "$ERR" "--no-divergence-check" && fail "infinite loss: the message offers --no-divergence-check, which does not apply: $ERR"

# 5. Real training is untouched: the notes' configuration, and lr 10 which is at chance for five
#    epochs before it learns.
for lr in 0.1 10; do
  run "$TRAIN" --data digits --lr "$lr" --epochs 100 --quiet
  [ "$RC" = 0 ] || fail "--lr $lr: exit $RC, expected 0; stderr: $ERR"
  acc=$(key test_accuracy)
  ge "$acc" 0.9 || fail "--lr $lr: test_accuracy '$acc', expected >= 0.9"
done

# 6. A grid search shows the diverging cell as n/a, names why, and picks a good cell.
run "$TRAIN" --data digits --grid lr=0.1,100 --epochs 20 --quiet
[ "$RC" = 0 ] || fail "grid with a diverging cell: exit $RC; stderr: $ERR"
has "$OUT" "grid lr=100: failed (training diverged at epoch 1" || fail "grid: the lr=100 cell is not reported as diverged: $OUT"
[ "$(key best_lr)" = 0.1 ] || fail "grid: best_lr '$(key best_lr)', expected 0.1"
printf '%s\n' "$OUT" | grep -Eq '^ +100 +n/a$' || fail "grid: the lr=100 row is not n/a: $OUT"

if [ "$fails" -gt 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all nn-train divergence checks passed"
