#!/usr/bin/env bash
# nn-train under mpirun (issue 17, docs/distributed.md), 2 ranks on one machine:
#  1. the course's digits network on 2 ranks ends as on 1 process: the same test accuracy (within
#     one test image), the same final training loss to 1e-6 relative (the history's full digits),
#     ranks=2 on the last line, one model file, written by rank 0, that nn-predict reads;
#  2. a batch smaller than the ranks (3 ranks, batch 2: one rank has no rows) trains as 1 process;
#  3. faults end every rank with a clear message, no hang and no model file: a rank whose data
#     file does not exist, a rank whose data file is malformed, ranks with different --layers,
#     --seed or data, a rank killed with SIGKILL mid-training, a second program that exits at
#     once, and an error on rank 0 alone (its model file cannot be written).
# Usage: bash tests/mpi/nn_train_mpi.sh <build>/bin <mpirun>      About half a minute.
source "$(dirname "$0")/../lib.bash"  # fail, run, key, num, ge, lt; AD_TMP
BIN="${1:?usage: nn_train_mpi.sh <bin dir> <mpirun>}"
MPIRUN="${2:-mpirun}"
BIN=$(cd "$BIN" && pwd) || { echo "FAIL: no directory $1"; exit 1; }
TRAIN="$BIN/nn-train"
[ -x "$TRAIN" ] || { echo "FAIL: $TRAIN not found"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
MPI=(timeout 120 "$MPIRUN" --oversubscribe)
cd "$AD_TMP"
has() { printf '%s' "$1" | grep -q -- "$2"; }
digits=(--data digits --layers 64,50,10 --hidden sigmoid --optimizer sgd --lr 0.1 --epochs 100 --batch 100 --seed 1 --quiet)

# 1. digits: 1 process, then 2 ranks
run "$TRAIN" "${digits[@]}" --history one.csv
[ "$RC" = 0 ] || fail "1 process: exit $RC: $ERR"
acc1=$(key test_accuracy)
run "${MPI[@]}" -np 2 "$TRAIN" "${digits[@]}" --history two.csv --save two.model
[ "$RC" = 0 ] || fail "2 ranks: exit $RC: $ERR"
acc2=$(key test_accuracy)
echo "1 process: test_accuracy $acc1; 2 ranks: $LAST"
[ "$(key ranks)" = 2 ] || fail "no ranks=2 on the last line: $LAST"
[ "$(printf '%s\n' "$OUT" | grep -c '^test_accuracy=')" = 1 ] || fail "the last line should be printed once (rank 0): $OUT"
num "$acc1" && num "$acc2" || fail "test accuracies '$acc1' '$acc2'"
# one test image of 360 is 1/360 = 0.0028
awk -v a="$acc1" -v b="$acc2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1 / 360 + 1e-9) }' ||
  fail "test accuracy: 1 process $acc1, 2 ranks $acc2 (more than one test image apart)"
l1=$(tail -n 1 one.csv | cut -d, -f2) l2=$(tail -n 1 two.csv | cut -d, -f2)
echo "final training loss: 1 process $l1, 2 ranks $l2"
awk -v a="$l1" -v b="$l2" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-6) }' ||
  fail "final training loss: 1 process $l1, 2 ranks $l2 (more than 1e-6 relative)"
[ "$(wc -l < two.csv)" = 101 ] || fail "two.csv: a header and 100 epochs expected, got $(wc -l < two.csv) lines"
[ -f two.model ] && [ -f two.model.meta ] || fail "the 2-rank run wrote no model"
ls two.model.tmp* 2>/dev/null && fail "a temporary model file is left"
run "$BIN/nn-predict" --model two.model --data digits --split test
[ "$RC" = 0 ] && has "$OUT" "accuracy $acc2" || fail "nn-predict on the 2-rank model: exit $RC: $OUT $ERR"

# 2. 3 ranks, batch 2: one rank has no rows in every batch
xor=(--data xor --layers 2,4,1 --hidden tanh --optimizer adam --lr 0.05 --epochs 300 --batch 2 --quiet --history)
run "$TRAIN" "${xor[@]}" x1.csv
run "${MPI[@]}" -np 3 "$TRAIN" "${xor[@]}" x3.csv
[ "$RC" = 0 ] || fail "3 ranks, batch 2: exit $RC: $ERR"
[ "$(key ranks)" = 3 ] || fail "3 ranks: $LAST"
l1=$(tail -n 1 x1.csv | cut -d, -f2) l3=$(tail -n 1 x3.csv | cut -d, -f2)
awk -v a="$l1" -v b="$l3" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-6) }' ||
  fail "xor, batch 2: 1 process $l1, 3 ranks $l3"

# 3. faults: every one ends the job (timeout would exit 124), names the cause, writes no model.
# expect_fault NAME PATTERN CMD...: exit status not 0 and not 124, PATTERN in stderr, no model
expect_fault() {
  local name="$1" pattern="$2"
  shift 2
  rm -f f.model f.model.meta f.model.tmp
  local t0=$SECONDS
  run "$@"
  echo "$name: exit $RC after $((SECONDS - t0)) s: $(printf '%s\n' "$ERR" | grep -m1 nn-train)"
  [ "$RC" != 0 ] || fail "$name: exit 0"
  [ "$RC" != 124 ] || fail "$name: hung (killed by timeout)"
  has "$ERR" "$pattern" || fail "$name: stderr lacks '$pattern': $ERR"
  [ ! -e f.model ] && [ ! -e f.model.tmp ] || fail "$name: a model file was written"
}
short=(--data digits --epochs 3 --quiet --save f.model)
printf 'a,b,label\n1,2,0\n3,x,1\n' > bad.csv
expect_fault "missing file on rank 1" "rank 1: load_csv: $AD_TMP/none.csv" \
  "${MPI[@]}" -np 1 "$TRAIN" "${short[@]}" : -np 1 "$TRAIN" "${short[@]}" --data "$AD_TMP/none.csv"
expect_fault "malformed file on rank 1" "rank 1: .*bad.csv" \
  "${MPI[@]}" -np 1 "$TRAIN" "${short[@]}" : -np 1 "$TRAIN" "${short[@]}" --data bad.csv
expect_fault "different --layers" "nn-train: the ranks disagree: rank 1 has --layers 64,40,10, rank 0 has 64,50,10" \
  "${MPI[@]}" -np 1 "$TRAIN" "${short[@]}" --layers 64,50,10 : -np 1 "$TRAIN" "${short[@]}" --layers 64,40,10
expect_fault "different --seed" "rank 1 has --seed 2, rank 0 has 1" \
  "${MPI[@]}" -np 1 "$TRAIN" "${short[@]}" : -np 1 "$TRAIN" "${short[@]}" --seed 2
expect_fault "different data" "rank 1 has the training data" \
  "${MPI[@]}" -np 1 "$TRAIN" "${short[@]}" : -np 1 "$TRAIN" "${short[@]}" --test-fraction 0.25
expect_fault "second program exits" "exit" "${MPI[@]}" -np 1 "$TRAIN" "${short[@]}" : -np 1 false
expect_fault "error on rank 0 alone" "nn-train: rank 0 of 2: .*no/such/dir/m.model.*ending every rank" \
  "${MPI[@]}" -np 2 "$TRAIN" --data digits --epochs 3 --quiet --save no/such/dir/m.model

# a rank killed mid-training: the job ends at once, no model file
rm -f f.model f.model.tmp pid.*
t0=$SECONDS
"${MPI[@]}" -np 2 bash -c 'echo $$ > pid.$OMPI_COMM_WORLD_RANK; exec "$0" "$@"' "$TRAIN" \
  --data digits --epochs 100000 --quiet --save f.model >kill.out 2>kill.err &
job=$!
for _ in $(seq 100); do [ -s pid.1 ] && [ -s pid.0 ] && break; sleep 0.1; done
sleep 1
kill -9 "$(cat pid.1)" || fail "could not kill rank 1"
wait "$job"; rc=$?
echo "rank 1 killed: exit $rc after $((SECONDS - t0)) s: $(grep -m1 -i 'signal' kill.err)"
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "rank 1 killed: exit $rc (124: hung)"
grep -qi "rank 1 .*signal 9\|killed" kill.err || fail "rank 1 killed: mpirun's message is missing: $(cat kill.err)"
[ ! -e f.model ] && [ ! -e f.model.tmp ] || fail "rank 1 killed: a model file was written"
# rank 0 is gone too (mpirun's daemon ends it; a moment for the process to be reaped)
for _ in $(seq 50); do kill -0 "$(cat pid.0)" 2>/dev/null || break; sleep 0.1; done
kill -0 "$(cat pid.0)" 2>/dev/null && fail "rank 0 still runs 5 s after rank 1 died"

[ "$fails" = 0 ] && echo "nn-train under mpirun: all checks passed"
exit $((fails > 0))
