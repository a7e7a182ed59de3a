#!/usr/bin/env bash
# ADOL-C anchors for W1 and W1b (optional): builds adolc_w1.cpp and adolc_w1b.cpp when
# libadolc-dev is installed (apt-get install libadolc-dev), runs them, and prints their
# key=value lines. Without ADOL-C it says so and exits 0.
#
# Usage: bash bench/anchors/adolc.sh [w1|w1b|all] [build dir]   (default: all, build/anchors)
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
WHICH="${1:-all}"
OUT="${2:-$HERE/../../build/anchors}"
if [ ! -f /usr/include/adolc/adolc.h ]; then
  echo "adolc: skipped (libadolc-dev is not installed)"
  exit 0
fi
mkdir -p "$OUT"
CXX="${CXX:-g++}"
FLAGS="-std=c++17 -O3 -march=native -DNDEBUG -I$HERE/../../nn/include"  # common.hpp uses ad::nn::Rng
for w in w1 w1b; do
  [ "$WHICH" = all ] || [ "$WHICH" = "$w" ] || continue
  src="$HERE/adolc_$w.cpp" bin="$OUT/adolc_$w"
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$HERE/../common.hpp" -nt "$bin" ]; then
    $CXX $FLAGS "$src" -o "$bin" -ladolc
  fi
  "$bin"
done
