#!/usr/bin/env bash
# examples/digits, the course notes' configuration (64-50-10, sigmoid hidden, SGD lr 0.1, batch
# 100, 100 epochs) over 20 seeds (each its own split, initialization and batch order): median
# test accuracy >= 0.91 and no seed below 0.88 (PyTorch gets 0.914; one lucky seed is not a
# result). Then the program as documented (seed 1, both configurations): the better
# configuration (64-128-64-10 ReLU, Adam) >= 0.97, and its median over 10 seeds >= 0.97. Median and minimum are recomputed here from
# the per-seed list, not only read from the program.
source "$(dirname "$0")/common.bash"
seeds=20
run_example digits --notes-only --seeds "$seeds" --seed 0
list=$(key notes_test_accuracies)
n=$(printf '%s\n' "$list" | tr ',' '\n' | grep -c .)
[ "$n" = "$seeds" ] || fail "notes_test_accuracies has $n entries, want $seeds: $list"
bad=$(printf '%s\n' "$list" | tr ',' '\n' | while read -r a; do num "$a" || echo "$a"; done)
[ -z "$bad" ] || fail "not numbers in notes_test_accuracies: $bad"
stats=$(printf '%s\n' "$list" | tr ',' '\n' | sort -g | awk '
  { v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.4f %.4f %.4f", m, v[1], v[NR] }')
read -r median min max <<<"$stats"
echo "notes configuration, seeds 0..$((seeds - 1)): $list"
echo "notes configuration: median $median, min $min, max $max"
awk -v a="$median" -v b="$(key notes_test_accuracy)" 'BEGIN { d = a - b; exit !(b != "" && d <= 1e-4 && d >= -1e-4) }' || fail "median $median recomputed, the program says $(key notes_test_accuracy)"
[ "$min" = "$(key notes_min_test_accuracy)" ] || fail "min $min recomputed, the program says $(key notes_min_test_accuracy)"
awk -v m="$median" 'BEGIN { exit !(m >= 0.91) }' || fail "median test accuracy $median over $seeds seeds, want >= 0.91"
awk -v m="$min" 'BEGIN { exit !(m >= 0.88) }' || fail "lowest test accuracy $min over $seeds seeds, want >= 0.88"

run_example digits
at_least notes_test_accuracy 0.88
at_least better_test_accuracy 0.97

# The better configuration (64-128-64-10 ReLU, Adam) over 10 seeds: its median >= 0.97 (seed 1,
# the documented run, is checked above; single seeds range about 0.967-0.986) and none below 0.95.
better_seeds=10
run_example digits --better-seeds "$better_seeds" --seed 0
list=$(key better_test_accuracies)
n=$(printf '%s\n' "$list" | tr ',' '\n' | grep -c .)
[ "$n" = "$better_seeds" ] || fail "better_test_accuracies has $n entries, want $better_seeds: $list"
stats=$(printf '%s\n' "$list" | tr ',' '\n' | sort -g | awk '
  { v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.4f %.4f", m, v[1] }')
read -r bmedian bmin <<<"$stats"
echo "better configuration, seeds 0..$((better_seeds - 1)): $list (median $bmedian, min $bmin)"
awk -v a="$bmedian" -v b="$(key better_test_accuracy)" 'BEGIN { d = a - b; exit !(b != "" && d <= 1e-4 && d >= -1e-4) }' || fail "better median $bmedian recomputed, the program says $(key better_test_accuracy)"
awk -v m="$bmedian" 'BEGIN { exit !(m >= 0.97) }' || fail "better configuration: median test accuracy $bmedian over $better_seeds seeds, want >= 0.97"
awk -v m="$bmin" 'BEGIN { exit !(m >= 0.95) }' || fail "better configuration: lowest test accuracy $bmin over $better_seeds seeds, want >= 0.95"
finish
