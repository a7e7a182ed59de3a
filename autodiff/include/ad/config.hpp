// The array types of the public API, fixed whatever the instruction-set flags of the program that
// includes the headers.
//
// xtensor's default allocator is xsimd::aligned_allocator<T, A>, and A follows the -m flags (16
// for SSE, 32 for AVX2, 64 for AVX-512). The library pins A to 64 for itself and for everything
// that links the CMake targets ad::autodiff or ad::nn (they carry the definitions below), so a
// library built with -march=native and a program built with no -m flag agree on
// xt::xarray<double>. Every public header that names an xtensor type includes this one first; a
// program compiled without those definitions stops here with the fix, instead of failing to link
// with "undefined reference to ... aligned_allocator<double, 16ul>".
#pragma once

#if !defined(XTENSOR_USE_XSIMD) || !defined(XTENSOR_DEFAULT_ALLOCATOR)
#error "ad: compile with the definitions of the CMake target ad::autodiff (link ad::nn or ad::autodiff with find_package(ad) or add_subdirectory), or by hand with: -DXTENSOR_USE_XSIMD -DXTENSOR_DEFAULT_ALIGNMENT=64 '-DXTENSOR_DEFAULT_ALLOCATOR(T)=xsimd::aligned_allocator<T,64>' (docs/getting-started.md)"
#endif

// xtensor_config.hpp brings in xsimd and, through it, the compiler's intrinsics headers. g++ 12's
// AVX-512 intrinsics initialize a placeholder with itself (`__m512 __Y = __Y;` in
// avx512fintrin.h), and once inlined into xsimd kernels that line draws hundreds of
// -Wmaybe-uninitialized / -Wuninitialized warnings about code that is not ours (later GCC
// releases silence it in the header). The warnings are turned off for those headers' lines only,
// here where they are first included; every other line keeps both warnings.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <xtensor/xtensor_config.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <type_traits>

namespace ad::detail {
/// The allocator behind every xt::xarray<T> of the API: 64-byte aligned, whatever the -m flags.
inline constexpr std::size_t array_alignment = 64;
static_assert(std::is_same_v<XTENSOR_DEFAULT_ALLOCATOR(double), xsimd::aligned_allocator<double, array_alignment>>,
              "ad: xtensor's default allocator is not xsimd::aligned_allocator<T, 64>: define "
              "XTENSOR_DEFAULT_ALLOCATOR(T) as the CMake target ad::autodiff does (docs/getting-started.md)");
}  // namespace ad::detail
