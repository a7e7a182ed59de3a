#!/usr/bin/env bash
# CLI tests of nn-train and nn-predict: help, usage errors (exit 2, naming the valid choices),
# bad files (exit 1, naming the file), XOR learned, key=value last line, save -> nn-predict round
# trip (same accuracy), CSV classification and regression, grid search heatmap, history files,
# the scaling statistics in the .meta file.
# Usage: bash tests/cli/nn_train.sh <build>/bin        Every run is a few seconds at most.
source "$(dirname "$0")/../lib.bash"  # fail, run, key, num, ge, lt; AD_TMP
BIN="${1:?usage: nn_train.sh <bin dir>}"
BIN=$(cd "$BIN" && pwd) || { echo "FAIL: no directory $1"; exit 1; }  # the tests run in a temporary directory
TRAIN="$BIN/nn-train"
PREDICT="$BIN/nn-predict"
[ -x "$TRAIN" ] || { echo "FAIL: $TRAIN not found"; exit 1; }
[ -x "$PREDICT" ] || { echo "FAIL: $PREDICT not found"; exit 1; }
TMP=$AD_TMP
cd "$TMP"

# has TEXT PATTERN: TEXT matches the grep pattern
has() { printf '%s' "$1" | grep -q -- "$2"; }

# 1. --help
run "$TRAIN" --help
[ "$RC" = 0 ] || fail "nn-train --help exit $RC"
for w in --data --layers --optimizer --grid --heatmap --patience --float --save --plot; do
  has "$OUT" "$w" || fail "nn-train --help does not mention $w"
done
run "$PREDICT" --help
[ "$RC" = 0 ] || fail "nn-predict --help exit $RC"
has "$OUT" "--model" || fail "nn-predict --help does not mention --model"

# 2. Usage errors: exit 2 and the valid choices named.
run "$TRAIN" --optimizer adamx
[ "$RC" = 2 ] || fail "bad --optimizer exit $RC"
has "$ERR" "sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw" || fail "bad --optimizer: choices not listed: $ERR"
run "$TRAIN" --hidden relu6
[ "$RC" = 2 ] || fail "bad --hidden exit $RC"
has "$ERR" "--hidden: 'relu6' is not one of: sigmoid, tanh, relu, leaky_relu, elu, swish, silu, softplus, identity, linear, exp, log" ||
  fail "bad --hidden: choices not listed: $ERR"
has "$ERR" "softmax" && fail "bad --hidden: softmax is not a hidden activation: $ERR"
run "$TRAIN" --optimzer adam
[ "$RC" = 2 ] || fail "misspelt option exit $RC"
has "$ERR" "did you mean --optimizer" || fail "misspelt option: no hint: $ERR"
run "$TRAIN" --lr
[ "$RC" = 2 ] || fail "--lr without value exit $RC"
has "$ERR" "--lr needs a value" || fail "--lr without value: $ERR"
run "$TRAIN" --lr fast
[ "$RC" = 2 ] || fail "--lr fast exit $RC"
run "$TRAIN" --hidden relux
[ "$RC" = 2 ] && has "$ERR" "sigmoid, tanh, relu" || fail "bad --hidden: $RC $ERR"
run "$TRAIN" --data nosuchset
[ "$RC" = 2 ] && has "$ERR" "digits" || fail "unknown data set: $RC $ERR"
run "$TRAIN" --grid foo=1,2
[ "$RC" = 2 ] && has "$ERR" "lr" || fail "bad --grid name: $RC $ERR"
run "$TRAIN" --optimizer sgd --beta1 0.8
[ "$RC" = 2 ] && has "$ERR" "adam" || fail "--beta1 with sgd: $RC $ERR"
run "$TRAIN" --layers 10,5,10 --epochs 1
[ "$RC" = 2 ] && has "$ERR" "64" || fail "--layers with the wrong input size: $RC $ERR"
run "$PREDICT" --data digits
[ "$RC" = 2 ] && has "$ERR" "--model" || fail "nn-predict without --model: $RC $ERR"
# the shapes of a command line: a flag given a value, a stray argument, a value missing at the
# end, --NAME=VALUE, options read in order (what follows --help is not looked at)
run "$TRAIN" --quiet=1
[ "$RC" = 2 ] && has "$ERR" "nn-train: --quiet is a flag and takes no value" || fail "--quiet=1: $RC $ERR"
run "$TRAIN" digits
[ "$RC" = 2 ] && has "$ERR" "unexpected argument 'digits' (options start with --)" || fail "stray argument: $RC $ERR"
run "$TRAIN" --epochs 5 --optimizer
[ "$RC" = 2 ] && has "$ERR" "--optimizer needs a value: --optimizer NAME" || fail "--optimizer at the end: $RC $ERR"
run "$TRAIN" --help --lr fast
[ "$RC" = 0 ] && has "$OUT" "usage: nn-train" || fail "--help, then a bad value: $RC $ERR"
run "$TRAIN" --lr fast --help
[ "$RC" = 2 ] && has "$ERR" "--lr: 'fast' is not a number" || fail "a bad value, then --help: $RC $ERR"
run "$PREDICT" --model
[ "$RC" = 2 ] && has "$ERR" "nn-predict: --model needs a value" || fail "nn-predict --model at the end: $RC $ERR"
run "$PREDICT" --modl d.model --data digits
[ "$RC" = 2 ] && has "$ERR" "unknown option '--modl' (did you mean --model?)" || fail "nn-predict --modl: $RC $ERR"
# every option that docs/training.md's table names is in --help
DOC="$(dirname "$0")/../../docs/training.md"
run "$TRAIN" --help
for w in $(sed -n '/^| group | options |/,/^$/p' "$DOC" | grep -o -- '`--[a-z0-9-]*' | tr -d '`' | sort -u); do
  has "$OUT" "  $w " || fail "docs/training.md names $w, nn-train --help does not"
done

# 3. Bad files: exit 1, the file named.
run "$TRAIN" --data "$TMP/missing.csv"
[ "$RC" = 1 ] && has "$ERR" "missing.csv" || fail "missing CSV: $RC $ERR"
printf 'a,b,label\n1,2,0\n3,oops,1\n' > bad.csv
run "$TRAIN" --data bad.csv
[ "$RC" = 1 ] && has "$ERR" "bad.csv" && has "$ERR" "bad.csv:3" || fail "bad CSV cell: $RC $ERR"
run "$PREDICT" --model "$TMP/none.model" --data digits
[ "$RC" = 1 ] && has "$ERR" "none.model" || fail "missing model: $RC $ERR"

# 4. XOR: a 2-4-1 tanh network learns the truth table (tested on its own four rows).
run "$TRAIN" --data=xor --layers 2,4,1 --hidden=tanh --optimizer adam --lr 0.05 --epochs 500 --batch=4 --quiet
[ "$RC" = 0 ] || fail "xor exit $RC: $ERR"
[ "$(key test_accuracy)" = "1.0000" ] || fail "xor test_accuracy: $LAST"
for k in train_loss epochs seconds; do num "$(key $k)" || fail "xor: no $k= in the last line: $LAST"; done
[ "$(key epochs)" = 500 ] || fail "xor epochs: $LAST"
# Any function of the op rules is a hidden activation (gelu here), and is saved and reloaded.
run "$TRAIN" --data xor --layers 2,4,1 --hidden gelu --optimizer adam --lr 0.05 --epochs 500 --batch 4 --quiet \
  --save "$AD_TMP/gelu.model"
[ "$RC" = 0 ] || fail "xor gelu exit $RC: $ERR"
[ "$(key test_accuracy)" = "1.0000" ] || fail "xor gelu test_accuracy: $LAST"
grep -q "activation gelu" "$AD_TMP/gelu.model" || fail "gelu model file: no 'activation gelu' line"
printf '%s\n' "$LAST" | grep -Eq '^([a-z_0-9]+=[^ ]+ )*[a-z_0-9]+=[^ ]+$' || fail "last line is not key=value pairs: $LAST"

# 5. Digits, a few epochs: save, history, plot; nn-predict on the same test rows gives the same accuracy.
run "$TRAIN" --epochs 5 --optimizer adam --lr 0.01 --save d.model --history h.csv --plot h.svg --val-fraction 0.2
[ "$RC" = 0 ] || fail "digits exit $RC: $ERR"
acc=$(key test_accuracy)
ge "$acc" 0.8 || fail "digits after 5 epochs: test_accuracy $acc"
[ -s d.model ] && [ -s d.model.meta ] || fail "digits: d.model or d.model.meta missing"
[ "$(wc -l < h.csv)" = 6 ] || fail "history.csv should have a header and 5 rows"
head -n 1 h.csv | grep -q '^epoch,loss,accuracy,val_loss,val_accuracy' || fail "history.csv header: $(head -n 1 h.csv)"
grep -q '>epoch</text>' h.svg && grep -q '>validation</text>' h.svg || fail "h.svg lacks axis label or legend"
run "$PREDICT" --model d.model --data digits --split test
[ "$RC" = 0 ] || fail "nn-predict exit $RC: $ERR"
num "$acc" && [ "$(key accuracy)" = "$acc" ] || fail "nn-predict accuracy $(key accuracy) != nn-train test_accuracy $acc"
[ "$(key rows)" = 360 ] || fail "nn-predict rows: $LAST"
has "$OUT" "confusion matrix" || fail "nn-predict prints no confusion matrix"
has "$OUT" "macro avg" || fail "nn-predict prints no class report"

# 6. A CSV data set (label in column 0, with a header): train, then predict the test file in
#    float32 and on a file without labels.
awk 'BEGIN { srand(3); print "label,x0,x1";
  for (i = 0; i < 300; i++) { a = rand() * 4 - 2; b = rand() * 4 - 2; print (a * b > 0 ? 1 : 0) "," a "," b } }' > all.csv
head -n 241 all.csv > train.csv
{ head -n 1 all.csv; tail -n 60 all.csv; } > test.csv
run "$TRAIN" --data train.csv --label-column 0 --test-data test.csv --layers 2,16,2 --hidden tanh \
  --optimizer adam --lr 0.05 --epochs 60 --batch 32 --float --save q.model --quiet
[ "$RC" = 0 ] || fail "csv exit $RC: $ERR"
acc=$(key test_accuracy)
ge "$acc" 0.85 || fail "csv quadrants: test_accuracy $acc"
run "$PREDICT" --model q.model --data test.csv
[ "$RC" = 0 ] || fail "nn-predict csv exit $RC: $ERR"
num "$acc" && [ "$(key accuracy)" = "$acc" ] || fail "nn-predict csv accuracy $(key accuracy) != $acc"
cut -d, -f2,3 test.csv > features.csv
run "$PREDICT" --model q.model --data features.csv --output pred.csv
[ "$RC" = 0 ] || fail "nn-predict features-only exit $RC: $ERR"
[ "$(wc -l < pred.csv)" = 61 ] || fail "pred.csv should have a header and 60 rows"
head -n 1 pred.csv | grep -qx 'row,predicted' || fail "pred.csv header: $(head -n 1 pred.csv)"
has "$LAST" "accuracy=" && fail "no labels, yet an accuracy: $LAST"

# 7. Regression from CSV.
awk 'BEGIN { srand(5); print "x0,x1,y";
  for (i = 0; i < 200; i++) { a = rand() * 2 - 1; b = rand() * 2 - 1; print a "," b "," (2 * a - b + 0.5) } }' > reg.csv
run "$TRAIN" --data reg.csv --task regression --layers 2,16,1 --hidden tanh --optimizer adam --lr 0.02 \
  --epochs 80 --batch 20 --save r.model --quiet
[ "$RC" = 0 ] || fail "regression exit $RC: $ERR"
ge "$(key test_r2)" 0.95 || fail "regression test_r2: $LAST"
num "$(key test_mse)" || fail "regression: no test_mse: $LAST"
run "$PREDICT" --model r.model --data reg.csv
[ "$RC" = 0 ] && ge "$(key r2)" 0.95 || fail "nn-predict regression: $RC $LAST $ERR"

# 8. Grid search: 2 x 3 cells, a heatmap with one cell and one value each.
run "$TRAIN" --epochs 3 --grid lr=0.1,1 --grid l2=0,1e-4,1e-3 --heatmap g.svg --grid-csv g.csv --quiet
[ "$RC" = 0 ] || fail "grid exit $RC: $ERR"
[ "$(grep -c 'class="cell"' g.svg)" = 6 ] || fail "heatmap cells: $(grep -c 'class="cell"' g.svg), want 6"
[ "$(grep -c 'class="value"' g.svg)" = 6 ] || fail "heatmap values: want 6"
[ "$(printf '%s\n' "$OUT" | grep -c '^grid ')" = 6 ] || fail "grid should print one line per cell"
# the table: a header with the l2 values, then one row per lr with 3 scores in [0, 1]
[ "$(head -n 1 g.csv)" = 'lr\l2,0,1e-4,1e-3' ] || fail "grid csv header: $(head -n 1 g.csv)"
[ "$(wc -l < g.csv)" = 3 ] || fail "grid csv should have 1 + 2 rows"
awk -F, 'NR > 1 { if (NF != 4) exit 1; for (i = 2; i <= 4; i++) if ($i < 0 || $i > 1) exit 1 }' g.csv || fail "grid csv cells"
has "$OUT" "lr . l2" || fail "grid table not printed"
num "$(key best_lr)" && num "$(key best_l2)" && num "$(key test_accuracy)" || fail "grid last line: $LAST"
# a validation split of the gates keeps the test on all four rows of the truth table
run "$TRAIN" --data xor --layers 2,4,1 --hidden tanh --optimizer adam --lr 0.05 --epochs 5 --batch 4 --val-fraction 0.25 --quiet
[ "$RC" = 0 ] || fail "xor with a validation split: exit $RC: $ERR"
has "$OUT" "4 test" || fail "xor test rows: $OUT"
grep -q 'learning rate' g.svg && grep -q '>1e-4<' g.svg || fail "heatmap axis labels / tick values missing"
for f in g.svg h.svg; do  # python3 comes from .ci/install-deps
  python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$f" || fail "$f is not well-formed XML"
done

# 9. The .meta file keeps the input scaling of the training rows exactly (hex floats, the format
#    of docs/model-format.md), and nn-predict reads such a file however it was written.
#    four.csv: x0 = 1,1,3,3 (mean 2, sd 1, min 1, range 2), x1 = 0,4,0,4 (mean 2, sd 2, min 0,
#    range 4); the largest |value| is 4. The digits' pixels are 0..16 (section 5, --scale auto = max).
printf 'x0,x1,label\n1,0,0\n1,4,1\n3,0,0\n3,4,1\n' > four.csv
for want in 'standard 2 0x1p+1 0x1p+1 0x1p+0 0x1p+1' 'minmax 2 0x1p+0 0x0p+0 0x1p+1 0x1p+2' 'max 1 0x1p+2' 'none 0'; do
  k=${want%% *}
  run "$TRAIN" --data four.csv --test-data four.csv --layers 2,4,2 --scale "$k" --epochs 2 --save "s_$k.model" --quiet
  [ "$RC" = 0 ] || fail "--scale $k: exit $RC: $ERR"
  grep -qx "scaling $want" "s_$k.model.meta" || fail "--scale $k: $(grep '^scaling' "s_$k.model.meta"), want scaling $want"
done
grep -qx 'scaling max 1 0x1p+4' d.model.meta || fail "digits: $(grep '^scaling' d.model.meta), want scaling max 1 0x1p+4"
run "$PREDICT" --model s_standard.model --data four.csv --probabilities --output p_written.csv
[ "$RC" = 0 ] || fail "nn-predict with the written .meta: exit $RC: $ERR"
# the same statistics, by hand, in decimal and in the documented order of the lines
printf '%s\n' 'ad-nn-meta 1' 'task classification' 'loss cross_entropy' 'dtype float64' 'features 2' 'outputs 2' \
  'scaling standard 2 2 2 1 2' 'classes 2' 'class 0' 'class 1' 'data four.csv' 'label_column -1' 'test_fraction 0' \
  'seed 1' 'stratify 0' 'end' > s_standard.model.meta
run "$PREDICT" --model s_standard.model --data four.csv --probabilities --output p_by_hand.csv
[ "$RC" = 0 ] || fail "nn-predict with a .meta written by hand: exit $RC: $ERR"
cmp -s p_written.csv p_by_hand.csv || fail "a .meta written by hand predicts differently: $(diff p_written.csv p_by_hand.csv)"
# statistics that no scaler has: an error naming the file and the line
sed -i 's/^scaling .*/scaling max 1 -0x1p+2/' s_standard.model.meta
run "$PREDICT" --model s_standard.model --data four.csv
[ "$RC" = 1 ] && has "$ERR" "s_standard.model.meta line 7" || fail "a negative max divisor: $RC $ERR"

if [ "$fails" -gt 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "nn_train.sh: all passed"
