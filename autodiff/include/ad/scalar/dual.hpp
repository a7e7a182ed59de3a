// ad::Dual: forward-mode numbers, whose ops are the op rules. Part of <ad/scalar.hpp>.
#pragma once

#include <ad/ops/rules.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace ad {

// ---------------------------------------------------------------------------------------------
/// A forward-mode number: a value and its partial derivatives with respect to N inputs, carried
/// along by every op below with the same value and partial rules as the tape (one list of ops).
/// This is how ad::elementwise (<ad/elementwise.hpp>) differentiates a user's function of a few
/// numbers entry by entry in one pass, and it can be used directly for forward mode:
///
///     ad::Dual<2> x(1.5, 0), y(-0.5, 1);             // seeds: d/dx, d/dy
///     auto f = sqrt(x * x + exp(x * y));
///     f.value(); f.partial(0); f.partial(1);          // f, df/dx, df/dy
///
/// A partial that is exactly zero stays zero through any op, even one whose local derivative is
/// infinite there (sqrt at 0): the sqrt(a) + b at a = 0 still has df/db = 1, as reverse mode.
///
/// T is the type of the value and partials: double, or itself a Dual, which gives second
/// derivatives (forward over forward: `Dual<1, Dual<1>>` seeded in two directions carries
/// d2f / dx_i dx_j; see ad::hessian). Every op is the op rule's, evaluated at V = T.
template <std::size_t N, class T = double>
class Dual {
 public:
  using scalar_type = T;
  /// A constant: value v, every partial 0.
  Dual(T v = T(0)) noexcept : v_(v) {}  // NOLINT(implicit)
  /// A constant from a plain number, when T is itself a Dual.
  template <class U = T>
    requires(!std::is_same_v<U, double>)
  Dual(double v) noexcept : v_(T(v)) {}  // NOLINT(implicit)
  /// Input number `wrt` (0 .. N-1): value v, partial 1 with respect to itself, 0 to the others.
  Dual(T v, std::size_t wrt) noexcept : v_(v) {
    if constexpr (N > 0) d_[wrt] = T(1);
  }
  const T& value() const noexcept { return v_; }
  /// d(this)/d(input j).
  const T& partial(std::size_t j) const noexcept { return d_[j]; }
  const std::array<T, N>& partials() const noexcept { return d_; }
  /// Sets d(this)/d(input j) (seeding a direction other than a unit one).
  void set_partial(std::size_t j, const T& d) noexcept { d_[j] = d; }

  /// op(a): the value y = Op::value(a) and partials Op::d(a, y) * da.
  template <class Op>
  static Dual unary(const Dual& a, Op op = {}) noexcept {
    Dual r(op.value(a.v_));
    const T p = op.d(a.v_, r.v_);
    for (std::size_t j = 0; j < N; ++j) r.d_[j] = scaled(p, a.d_[j]);
    return r;
  }
  /// op(a, b) with either side a plain number (whose partials are 0, and not computed).
  template <class Op, class A, class B>
  static Dual binary(const A& a, const B& b) noexcept {
    Op op{};
    const T av = val(a), bv = val(b);
    Dual r(op.value(av, bv));
    if constexpr (std::is_same_v<A, Dual> && std::is_same_v<B, Dual>) {
      const T pa = op.da(av, bv, r.v_), pb = op.db(av, bv, r.v_);
      for (std::size_t j = 0; j < N; ++j) r.d_[j] = scaled(pa, a.d_[j]) + scaled(pb, b.d_[j]);
    } else if constexpr (std::is_same_v<A, Dual>) {
      const T pa = op.da(av, bv, r.v_);
      for (std::size_t j = 0; j < N; ++j) r.d_[j] = scaled(pa, a.d_[j]);
    } else {
      const T pb = op.db(av, bv, r.v_);
      for (std::size_t j = 0; j < N; ++j) r.d_[j] = scaled(pb, b.d_[j]);
    }
    return r;
  }

  Dual& operator+=(const Dual& b) noexcept { return *this = binary<rules::Add>(*this, b); }
  Dual& operator-=(const Dual& b) noexcept { return *this = binary<rules::Sub>(*this, b); }
  Dual& operator*=(const Dual& b) noexcept { return *this = binary<rules::Mul>(*this, b); }
  Dual& operator/=(const Dual& b) noexcept { return *this = binary<rules::Div>(*this, b); }

 private:
  static T val(double x) noexcept { return T(x); }
  static const T& val(const Dual& x) noexcept { return x.v_; }
  // p * d, except that a zero partial stays zero (no 0 * inf = NaN from an unused direction).
  // (Written as a mask on the product's bits, not as `d == 0 ? 0 : p * d`: GCC's if-conversion
  // gives up on chains of such selects, and loops over Duals, as ad::elementwise runs, then do
  // not vectorize.) For a nested Dual, "zero" means the value and every partial (a zero value
  // may carry second derivatives).
  static T scaled(const T& p, const T& d) noexcept {
    if constexpr (std::is_same_v<T, double>) {
      const std::uint64_t keep = std::uint64_t{0} - static_cast<std::uint64_t>(d != 0.0);
      return std::bit_cast<double>(std::bit_cast<std::uint64_t>(p * d) & keep);
    } else {
      return exactly_zero(d) ? T(0) : p * d;
    }
  }
  static bool exactly_zero(double d) noexcept { return d == 0.0; }
  template <std::size_t M, class U>
  static bool exactly_zero(const Dual<M, U>& d) noexcept {
    if (!Dual<M, U>::exactly_zero(d.value())) return false;
    for (const U& p : d.partials())
      if (!Dual<M, U>::exactly_zero(p)) return false;
    return true;
  }
  template <std::size_t, class>
  friend class Dual;

  T v_;
  std::array<T, N> d_{};
};

template <std::size_t N, class T>
inline const T& value(const Dual<N, T>& a) {
  return a.value();
}

}  // namespace ad
