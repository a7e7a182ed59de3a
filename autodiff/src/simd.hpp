// xsimd helpers for elementwise kernels: math functions and select() that work the same on a
// plain number and on an xsimd batch, and loops that run a kernel over whole batches (the last,
// partial batch goes through a padded buffer, so every entry is computed by the same code).
#pragma once

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace ad::detail {

template <class T>
using Batch = xsimd::batch<T>;

// ---- the same spelling for numbers and batches -----------------------------------------------
template <class T> T vselect(bool c, T a, T b) { return c ? a : b; }
template <class T, class A> xsimd::batch<T, A> vselect(const xsimd::batch_bool<T, A>& c, const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b) {
  return xsimd::select(c, a, b);
}
#define AD_SIMD_UNARY(name, fn)                                                              \
  inline float name(float x) { return std::fn(x); }                                          \
  inline double name(double x) { return std::fn(x); }                                        \
  template <class T, class A> xsimd::batch<T, A> name(const xsimd::batch<T, A>& x) { return xsimd::fn(x); }
// xsimd's exp, expm1, tanh and pow reduce their argument with a conversion of x log2(e) to an
// integer; for double batches without a native 64-bit conversion (AVX2, and AVX-512 without
// avx512dq's path in this xsimd) that is a plain cast, undefined behaviour for NaN and once |x|
// passes about 6e18 (UBSan found it through a fuzzed model file). So the argument is clamped to
// +-1e4, where every result is already saturated (0, inf, -1 or +-1), and a NaN lane is computed
// on 0 and then given back its NaN: the same values for every input, without the bad cast.
template <class F, class T, class A>
xsimd::batch<T, A> saturating(F&& f, const xsimd::batch<T, A>& x) {
  const xsimd::batch<T, A> lim(T(1e4)), zero(T(0));
  const auto nan = xsimd::isnan(x);
  const auto safe = xsimd::select(nan, zero, xsimd::select(x > lim, lim, xsimd::select(x < -lim, -lim, x)));
  return xsimd::select(nan, x, f(safe));
}
#define AD_SIMD_SATURATING_UNARY(name, fn)                                                   \
  inline float name(float x) { return std::fn(x); }                                          \
  inline double name(double x) { return std::fn(x); }                                        \
  template <class T, class A> xsimd::batch<T, A> name(const xsimd::batch<T, A>& x) {          \
    return saturating([](const auto& v) { return xsimd::fn(v); }, x);                        \
  }
AD_SIMD_SATURATING_UNARY(vexp, exp)
AD_SIMD_SATURATING_UNARY(vtanh, tanh)
AD_SIMD_SATURATING_UNARY(vexpm1, expm1)
#undef AD_SIMD_SATURATING_UNARY
AD_SIMD_UNARY(vlog, log)
AD_SIMD_UNARY(vsqrt, sqrt)
AD_SIMD_UNARY(vabs, abs)
AD_SIMD_UNARY(vlog1p, log1p)
#undef AD_SIMD_UNARY
inline float vpow(float x, float p) { return std::pow(x, p); }
inline double vpow(double x, double p) { return std::pow(x, p); }
// pow(x, p) is exp(p log x) inside xsimd: when some lane's |p log x| is out of that safe range,
// infinite (x = 0) or NaN, the batch is computed lane by lane with std::pow (which also gives
// pow(0, NaN) = NaN where xsimd says 0).
template <class T, class A> xsimd::batch<T, A> vpow(const xsimd::batch<T, A>& x, const xsimd::batch<T, A>& p) {
  const auto t = xsimd::abs(p * xsimd::log(xsimd::abs(x)));
  if (xsimd::all(t <= xsimd::batch<T, A>(T(1e4)))) return xsimd::pow(x, p);
  alignas(A::alignment()) T xs[xsimd::batch<T, A>::size], ps[xsimd::batch<T, A>::size];
  x.store_aligned(xs);
  p.store_aligned(ps);
  for (std::size_t i = 0; i < xsimd::batch<T, A>::size; ++i) xs[i] = std::pow(xs[i], ps[i]);
  return xsimd::batch<T, A>::load_aligned(xs);
}
inline float vmax(float a, float b) { return std::max(a, b); }
inline double vmax(double a, double b) { return std::max(a, b); }
template <class T, class A> xsimd::batch<T, A> vmax(const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b) { return xsimd::max(a, b); }

// ---- loops -----------------------------------------------------------------------------------

/// y[i] = f(x[i]) for i < n, f called on batches.
template <class T, class F>
inline void simd_map1(std::size_t n, const T* x, T* y, F&& f) {
  constexpr std::size_t W = Batch<T>::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) f(Batch<T>::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) {
    alignas(64) T bx[W] = {}, by[W];
    std::copy(x + i, x + n, bx);
    f(Batch<T>::load_unaligned(bx)).store_unaligned(by);
    std::copy(by, by + (n - i), y + i);
  }
}

/// out[i] (+)= f(a[i], b[i], c[i]) for i < n; Add chooses += over =.
template <class T, bool Add, class F>
inline void simd_map3(std::size_t n, const T* a, const T* b, const T* c, T* out, F&& f) {
  constexpr std::size_t W = Batch<T>::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    auto r = f(Batch<T>::load_unaligned(a + i), Batch<T>::load_unaligned(b + i), Batch<T>::load_unaligned(c + i));
    if constexpr (Add) r += Batch<T>::load_unaligned(out + i);
    r.store_unaligned(out + i);
  }
  if (i < n) {
    alignas(64) T ba[W] = {}, bb[W] = {}, bc[W] = {}, bo[W];
    std::copy(a + i, a + n, ba);
    std::copy(b + i, b + n, bb);
    std::copy(c + i, c + n, bc);
    f(Batch<T>::load_unaligned(ba), Batch<T>::load_unaligned(bb), Batch<T>::load_unaligned(bc)).store_unaligned(bo);
    for (std::size_t k = 0; k < n - i; ++k) out[i + k] = Add ? out[i + k] + bo[k] : bo[k];
  }
}

}  // namespace ad::detail
