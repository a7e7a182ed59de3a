// The math functions the op rules (<ad/ops/rules.hpp>) are written with, one spelling for every
// number type a rule is evaluated on:
//   - float and double: the <cmath> functions;
//   - xsimd batches (the tensor kernels): specializations of ad::math::Batch, declared in
//     autodiff/src/ops/simd.hpp, so only the kernels that need them pay for xsimd;
//   - anything else (ad::Dual, for derivatives of the rules themselves): the function of that
//     type's namespace, found by argument-dependent lookup.
// Also select(c, a, b) (a branch written as a value: `c ? a : b` for numbers, a blend for
// batches), and lit<V>(c), a constant of the number type V.
#pragma once

#include <cmath>
#include <type_traits>

namespace ad::math {

/// Customization point for number types that are not float or double; the primary template
/// calls the type's own functions through argument-dependent lookup (see the end of this file).
template <class V, class = void>
struct Other;

template <class V>
concept Plain = std::is_floating_point_v<V>;

/// The scalar type under V: V itself for float/double, T for a batch of T, double for ad::Dual.
template <class V, class = void>
struct scalar_of {
  using type = double;
};
template <Plain V>
struct scalar_of<V> {
  using type = V;
};
template <class V>
struct scalar_of<V, std::void_t<typename V::value_type>> {
  using type = typename V::value_type;
};
template <class V>
using scalar_t = typename scalar_of<V>::type;

/// The constant c as a V (a number, a batch of copies, a Dual with zero partials).
template <class V>
V lit(double c) {
  return V(static_cast<scalar_t<V>>(c));
}

// ---- select: c ? a : b -----------------------------------------------------------------------
template <class V>
V select(bool c, const V& a, const V& b) {
  return c ? a : b;
}
template <class C, class V>
  requires(!std::is_same_v<C, bool>)
V select(const C& c, const V& a, const V& b) {
  return Other<V>::select(c, a, b);
}

// ---- one-argument functions ------------------------------------------------------------------
#define AD_MATH_UNARY(fn)                                     \
  inline float fn(float x) { return std::fn(x); }             \
  inline double fn(double x) { return std::fn(x); }           \
  template <class V>                                          \
    requires(!Plain<V>)                                       \
  V fn(const V& x) {                                          \
    return Other<V>::fn(x);                                   \
  }
AD_MATH_UNARY(exp)
AD_MATH_UNARY(expm1)
AD_MATH_UNARY(log)
AD_MATH_UNARY(log1p)
AD_MATH_UNARY(log2)
AD_MATH_UNARY(sqrt)
AD_MATH_UNARY(cbrt)
AD_MATH_UNARY(sin)
AD_MATH_UNARY(cos)
AD_MATH_UNARY(tan)
AD_MATH_UNARY(asin)
AD_MATH_UNARY(acos)
AD_MATH_UNARY(atan)
AD_MATH_UNARY(sinh)
AD_MATH_UNARY(cosh)
AD_MATH_UNARY(tanh)
AD_MATH_UNARY(asinh)
AD_MATH_UNARY(acosh)
AD_MATH_UNARY(atanh)
AD_MATH_UNARY(erf)
AD_MATH_UNARY(fabs)
#undef AD_MATH_UNARY

// ---- two-argument functions ------------------------------------------------------------------
#define AD_MATH_BINARY(fn)                                          \
  inline float fn(float x, float y) { return std::fn(x, y); }       \
  inline double fn(double x, double y) { return std::fn(x, y); }    \
  template <class V>                                                \
    requires(!Plain<V>)                                             \
  V fn(const V& x, const V& y) {                                    \
    return Other<V>::fn(x, y);                                      \
  }
AD_MATH_BINARY(pow)
AD_MATH_BINARY(atan2)
AD_MATH_BINARY(hypot)
#undef AD_MATH_BINARY

}  // namespace ad::math

// The fallback for other number types: their own functions, by argument-dependent lookup. (Out
// of namespace ad::math, whose names would otherwise hide them.)
namespace ad_math_adl {
#define AD_MATH_ADL(fn)                    \
  template <class V>                       \
  V fn##_(const V& x) {                    \
    return fn(x);                          \
  }
AD_MATH_ADL(exp)
AD_MATH_ADL(expm1)
AD_MATH_ADL(log)
AD_MATH_ADL(log1p)
AD_MATH_ADL(log2)
AD_MATH_ADL(sqrt)
AD_MATH_ADL(cbrt)
AD_MATH_ADL(sin)
AD_MATH_ADL(cos)
AD_MATH_ADL(tan)
AD_MATH_ADL(asin)
AD_MATH_ADL(acos)
AD_MATH_ADL(atan)
AD_MATH_ADL(sinh)
AD_MATH_ADL(cosh)
AD_MATH_ADL(tanh)
AD_MATH_ADL(asinh)
AD_MATH_ADL(acosh)
AD_MATH_ADL(atanh)
AD_MATH_ADL(erf)
#undef AD_MATH_ADL
template <class V>
V fabs_(const V& x) {
  return abs(x);
}
template <class V>
V pow_(const V& x, const V& y) {
  return pow(x, y);
}
template <class V>
V atan2_(const V& x, const V& y) {
  return atan2(x, y);
}
template <class V>
V hypot_(const V& x, const V& y) {
  return hypot(x, y);
}
}  // namespace ad_math_adl

namespace ad::math {
template <class V, class>
struct Other {
  static V select(bool c, const V& a, const V& b) { return c ? a : b; }
  static V exp(const V& x) { return ad_math_adl::exp_(x); }
  static V expm1(const V& x) { return ad_math_adl::expm1_(x); }
  static V log(const V& x) { return ad_math_adl::log_(x); }
  static V log1p(const V& x) { return ad_math_adl::log1p_(x); }
  static V log2(const V& x) { return ad_math_adl::log2_(x); }
  static V sqrt(const V& x) { return ad_math_adl::sqrt_(x); }
  static V cbrt(const V& x) { return ad_math_adl::cbrt_(x); }
  static V sin(const V& x) { return ad_math_adl::sin_(x); }
  static V cos(const V& x) { return ad_math_adl::cos_(x); }
  static V tan(const V& x) { return ad_math_adl::tan_(x); }
  static V asin(const V& x) { return ad_math_adl::asin_(x); }
  static V acos(const V& x) { return ad_math_adl::acos_(x); }
  static V atan(const V& x) { return ad_math_adl::atan_(x); }
  static V sinh(const V& x) { return ad_math_adl::sinh_(x); }
  static V cosh(const V& x) { return ad_math_adl::cosh_(x); }
  static V tanh(const V& x) { return ad_math_adl::tanh_(x); }
  static V asinh(const V& x) { return ad_math_adl::asinh_(x); }
  static V acosh(const V& x) { return ad_math_adl::acosh_(x); }
  static V atanh(const V& x) { return ad_math_adl::atanh_(x); }
  static V erf(const V& x) { return ad_math_adl::erf_(x); }
  static V fabs(const V& x) { return ad_math_adl::fabs_(x); }
  static V pow(const V& x, const V& y) { return ad_math_adl::pow_(x, y); }
  static V atan2(const V& x, const V& y) { return ad_math_adl::atan2_(x, y); }
  static V hypot(const V& x, const V& y) { return ad_math_adl::hypot_(x, y); }
};
}  // namespace ad::math
