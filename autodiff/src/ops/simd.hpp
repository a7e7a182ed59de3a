// xsimd for the elementwise kernels: the op rules' math functions on batches, and loops that run
// a kernel over whole batches (the last, partial batch goes through a padded buffer, so every
// entry is computed by the same code).
#pragma once

#include <ad/ops/math.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace ad::detail {

template <class T>
using Batch = xsimd::batch<T>;

}  // namespace ad::detail

// ---- the op rules' math on batches (see <ad/ops/math.hpp>) -------------------------------------
// xsimd's transcendental functions reduce their argument with a conversion of (a multiple of) x
// to an integer; for double batches without a native 64-bit conversion (AVX2, and AVX-512
// without avx512dq's path in this xsimd) that is a plain cast, undefined behaviour for NaN and
// once |x| passes about 6e18 (UBSan found it through a fuzzed model file); and some (log, cbrt)
// are wrong on subnormal numbers. So a batch with any lane outside [-1e4, 1e4], subnormal or NaN
// is computed lane by lane with the C library: the same values as <cmath> at the extremes,
// xsimd's speed everywhere else (tests/autodiff/ops/test_rules.cpp checks every rule there).
namespace ad::math {
template <class T, class A>
struct Other<xsimd::batch<T, A>> {
  using B = xsimd::batch<T, A>;
  static constexpr std::size_t W = B::size;

  /// Lanes xsimd computes correctly: |x| <= 1e4, and normal numbers or zero (xsimd's log, cbrt,
  /// ... are wrong on subnormal inputs: log(4.9e-324) came out as -746.5 instead of -744.4).
  static auto in_range(const B& x) {
    const B ax = xsimd::abs(x);
    return (ax <= B(T(1e4))) && ((ax >= B(std::numeric_limits<T>::min())) || (ax == B(T(0))));
  }
  template <class F, class G>
  static B guarded(const B& x, F&& fast, G&& slow) {
    if (xsimd::all(in_range(x))) [[likely]]
      return fast(x);
    alignas(A::alignment()) T xs[W];
    x.store_aligned(xs);
    for (std::size_t i = 0; i < W; ++i) xs[i] = slow(xs[i]);
    return B::load_aligned(xs);
  }
  template <class F, class G>
  static B guarded(const B& x, const B& y, F&& fast, G&& slow) {
    if (xsimd::all(in_range(x) && in_range(y))) [[likely]]
      return fast(x, y);
    alignas(A::alignment()) T xs[W], ys[W];
    x.store_aligned(xs);
    y.store_aligned(ys);
    for (std::size_t i = 0; i < W; ++i) xs[i] = slow(xs[i], ys[i]);
    return B::load_aligned(xs);
  }

  template <class C>
  static B select(const C& c, const B& a, const B& b) { return xsimd::select(c, a, b); }
  static B fabs(const B& x) { return xsimd::abs(x); }
  static B sqrt(const B& x) { return xsimd::sqrt(x); }

#define AD_BATCH_UNARY(fn)                                                                   \
  static B fn(const B& x) {                                                                  \
    return guarded(x, [](const B& v) { return xsimd::fn(v); }, [](T v) { return std::fn(v); }); \
  }
  AD_BATCH_UNARY(exp)
  AD_BATCH_UNARY(expm1)
  AD_BATCH_UNARY(log)
  AD_BATCH_UNARY(log1p)
  AD_BATCH_UNARY(log2)
  AD_BATCH_UNARY(cbrt)
  AD_BATCH_UNARY(sin)
  AD_BATCH_UNARY(cos)
  AD_BATCH_UNARY(tan)
  AD_BATCH_UNARY(asin)
  AD_BATCH_UNARY(acos)
  AD_BATCH_UNARY(atan)
  AD_BATCH_UNARY(sinh)
  AD_BATCH_UNARY(cosh)
  AD_BATCH_UNARY(tanh)
  AD_BATCH_UNARY(asinh)
  AD_BATCH_UNARY(acosh)
  AD_BATCH_UNARY(atanh)
  AD_BATCH_UNARY(erf)
#undef AD_BATCH_UNARY
#define AD_BATCH_BINARY(fn)                                                                  \
  static B fn(const B& x, const B& y) {                                                      \
    return guarded(x, y, [](const B& u, const B& v) { return xsimd::fn(u, v); },             \
                   [](T u, T v) { return std::fn(u, v); });                                  \
  }
  AD_BATCH_BINARY(atan2)
  AD_BATCH_BINARY(hypot)
#undef AD_BATCH_BINARY
  // x^p is exp(p log x) inside xsimd: when some lane's |p log x| is out of that safe range,
  // infinite (x = 0) or NaN, or x is subnormal, the batch is computed lane by lane (which also
  // gives pow(0, NaN) = NaN where xsimd says 0).
  static B pow(const B& x, const B& p) {
    const B ax = xsimd::abs(x), t = xsimd::abs(p * xsimd::log(ax));
    if (xsimd::all((t <= B(T(1e4))) && (ax >= B(std::numeric_limits<T>::min())))) return xsimd::pow(x, p);
    alignas(A::alignment()) T xs[W], ps[W];
    x.store_aligned(xs);
    p.store_aligned(ps);
    for (std::size_t i = 0; i < W; ++i) xs[i] = std::pow(xs[i], ps[i]);
    return B::load_aligned(xs);
  }
};
}  // namespace ad::math

namespace ad::detail {

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
