#!/usr/bin/env bash
# The guard of cmake/AdArch.cmake still works, on any CPU with AVX2 (not only on AVX-512 ones):
# with 32-byte "by pieces" moves forced on (-march=x86-64-v3 -mmove-max=256 -mstore-max=256),
# g++ 12.2 builds the probe's wide constants wrong; adding the guard's -mmove-max=128
# -mstore-max=128 makes them right. So a CI machine without AVX-512 still checks that the flags
# we rely on defeat the bug, and notices if a new compiler no longer has it.
# Usage: guard.sh <c++ compiler> <probe source> <scratch dir>
set -u
cxx=$1; probe=$2; dir=$3
mkdir -p "$dir"
if ! grep -qw avx2 /proc/cpuinfo; then
  echo "guard: this CPU has no AVX2, so the 256-bit build cannot run here"
  exit 77  # ctest shows it as skipped (SKIP_RETURN_CODE)
fi
fails=0
"$cxx" -std=c++20 -O3 -march=x86-64-v3 -mmove-max=256 -mstore-max=256 "$probe" -o "$dir/probe_wide" || exit 1
"$cxx" -std=c++20 -O3 -march=x86-64-v3 -mmove-max=256 -mstore-max=256 -mmove-max=128 -mstore-max=128 \
    "$probe" -o "$dir/probe_guarded" || exit 1
if out=$("$dir/probe_wide"); then
  echo "guard: NOTE: $("$cxx" --version | head -n 1) builds wide constants right even with 256-bit moves: the bug is gone from this compiler"
else
  echo "guard: without the guard (256-bit moves): $out"
fi
if out=$("$dir/probe_guarded"); then
  echo "guard: with -mmove-max=128 -mstore-max=128: $out"
else
  echo "guard: FAIL: the guard flags do not fix the wide constants: $out"
  fails=1
fi
exit $fails
