# Instruction-set flags for the project's own targets, chosen so that the build is correct on the
# machine that configures it (docs/design.md, "Correct on every machine").
#
#   AD_ARCH=native (default)   -march=native: everything the CPU has, AVX-512 included
#   AD_ARCH=<cpu or level>     -march=<value>, e.g. x86-64-v3 (AVX2) or x86-64-v2 (SSE4.2)
#   AD_ARCH=none               the compiler's default (x86-64: SSE2 only)
#
# Debian 12's g++ 12.2 miscompiles wide integer constants when it moves or compares 32 or 64
# bytes at once ("by pieces"), which it does under -march=native on AVX-512 CPUs:
# std::vector<std::size_t>{1, 1, 1, 0} is built as {1, 1, 1, 1}. The x86 back end's
# ix86_convert_const_wide_int_to_broadcast turns a 256- or 512-bit constant into a broadcast of its
# first 64-bit limb after checking only the limbs it stores, and a constant whose top limbs are zero
# stores fewer limbs than the mode has. Later GCC releases check the limb count first.
#
# So, for g++ 12, -mmove-max=128 -mstore-max=128 keep those moves at 16 bytes: the broadcast path
# is never reached, and every vector instruction of the CPU stays available to the vectorizer and
# to xsimd. Whatever the compiler, cmake/probe_wide_constants.cpp (a reproducer of the bug) is
# compiled with the final flags and run; if it still fails, AVX-512 is turned off, then -march.
#
# The result is AD_ARCH_FLAGS, applied with add_compile_options by the top-level CMakeLists.txt
# to the project's own targets only: a consumer of the installed package compiles with its own
# flags (the array types do not depend on them, see AD_PUBLIC_DEFINITIONS in autodiff/).

include(CheckCXXCompilerFlag)

set(AD_ARCH "native" CACHE STRING
    "Instruction set for the project's targets: native, none, or a -march value (x86-64-v3, ...)")
# AD_NATIVE=OFF (the option of earlier versions) means the compiler's default.
if(DEFINED AD_NATIVE AND NOT AD_NATIVE)
  set(AD_ARCH "none" CACHE STRING "" FORCE)
endif()

# ad_probe_wide_constants(<result var> <flags...>): compiles and runs the reproducer with the
# flags at -O2 and -O3; the result is TRUE when every wide constant came out right.
function(ad_probe_wide_constants result)
  set(flags ${ARGN})
  string(MD5 key "${CMAKE_CXX_COMPILER};${CMAKE_CXX_COMPILER_VERSION};${flags}")
  set(var "AD_WIDE_CONSTANTS_OK_${key}")
  if(DEFINED CACHE{${var}})
    set(${result} ${${var}} PARENT_SCOPE)
    return()
  endif()
  set(ok TRUE)
  foreach(opt -O2 -O3)
    try_run(run_rc compile_ok
            ${CMAKE_BINARY_DIR}/CMakeFiles/ad_probe
            ${CMAKE_CURRENT_LIST_DIR}/probe_wide_constants.cpp
            COMPILE_DEFINITIONS ${opt} ${flags}
            CXX_STANDARD 20
            COMPILE_OUTPUT_VARIABLE compile_out
            RUN_OUTPUT_VARIABLE run_out)
    if(NOT compile_ok)
      message(STATUS "ad: the wide-constant probe does not compile with ${opt} ${flags}:\n${compile_out}")
      set(ok FALSE)
    elseif(NOT run_rc EQUAL 0)
      string(STRIP "${run_out}" run_out)
      string(REPLACE "\n" "; " run_out "${run_out}")
      message(STATUS "ad: ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION} with ${opt} ${flags} "
                     "miscompiles wide constants (${run_out})")
      set(ok FALSE)
    endif()
  endforeach()
  set(${var} ${ok} CACHE INTERNAL "wide-constant probe with ${flags}")
  set(${result} ${ok} PARENT_SCOPE)
endfunction()

set(ad_arch_flags "")
if(NOT AD_ARCH STREQUAL "none")
  set(ad_arch_flags "-march=${AD_ARCH}")
endif()

if(CMAKE_CROSSCOMPILING)
  message(STATUS "ad: cross-compiling: the wide-constant probe cannot run")
else()
  # g++ 12: keep by-pieces moves at 16 bytes (the bug's only way in; free of cost, see above).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    check_cxx_compiler_flag("-mmove-max=128 -mstore-max=128" AD_HAVE_MOVE_MAX)
    if(AD_HAVE_MOVE_MAX)
      ad_probe_wide_constants(plain_ok ${ad_arch_flags})
      list(APPEND ad_arch_flags -mmove-max=128 -mstore-max=128)
      if(NOT plain_ok)
        message(STATUS "ad: adding -mmove-max=128 -mstore-max=128 (GCC 12 wide-constant bug, docs/design.md)")
      endif()
    endif()
  endif()
  ad_probe_wide_constants(final_ok ${ad_arch_flags})
  if(NOT final_ok AND NOT AD_ARCH STREQUAL "none")
    list(APPEND ad_arch_flags -mno-avx512f)
    message(STATUS "ad: trying without AVX-512: ${ad_arch_flags}")
    ad_probe_wide_constants(final_ok ${ad_arch_flags})
    if(NOT final_ok)
      set(ad_arch_flags "")
      message(STATUS "ad: trying the compiler's default instruction set")
      ad_probe_wide_constants(final_ok)
    endif()
  endif()
  if(NOT final_ok)
    message(FATAL_ERROR "ad: ${CMAKE_CXX_COMPILER} miscompiles wide integer constants even with its "
                        "default flags (cmake/probe_wide_constants.cpp); use another compiler, e.g. "
                        "CXX=clang++ cmake -S . -B build")
  endif()
endif()

set(AD_ARCH_FLAGS ${ad_arch_flags})
string(JOIN " " ad_shown ${AD_ARCH_FLAGS})
if(CMAKE_CROSSCOMPILING)
  message(STATUS "ad: instruction-set flags: ${ad_shown} (AD_ARCH=${AD_ARCH}; not probed)")
else()
  message(STATUS "ad: instruction-set flags: ${ad_shown} (AD_ARCH=${AD_ARCH}; wide-constant probe passes)")
endif()
