#!/usr/bin/env bash
# examples/gates: every gate the example trains (XOR, AND, OR) gets all 4 rows of its truth
# table right. The count is checked twice: the example's own <gate>_correct=4, and recomputed
# here from the rows it prints ("  a b -> p (target t)", right when (p > 0.5) == t).
source "$(dirname "$0")/common.bash"
run_example gates
gates=$(printf '%s\n' "$OUT" | sed -n 's/^\([a-z]*\): final loss .*/\1/p' | tr '\n' ' ')
[ "$gates" = "xor and or " ] || fail "gates trained: '$gates', want xor and or"
for g in $gates; do
  [ "$(key "${g}_correct")" = 4 ] || fail "$g: ${g}_correct=$(key "${g}_correct"), want 4"
  rows=$(printf '%s\n' "$OUT" | awk -v g="$g:" '
    $1 == g { on = 1; next }
    /^[a-z]+: / { on = 0 }
    on && $3 == "->" { n++; gsub(/\)/, "", $6); if (($4 > 0.5) == ($6 + 0)) ok++ }
    END { printf "%d/%d", ok, n }')
  [ "$rows" = 4/4 ] || fail "$g: rows right in the printed table: $rows, want 4/4"
  echo "ok: $g ${g}_correct=$(key "${g}_correct"), printed rows right $rows"
done
finish
