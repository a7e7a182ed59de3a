// The operators, math functions and comparisons on Reals, expressions and Duals, one per op
// rule (<ad/ops/rules.hpp>). Part of <ad/scalar.hpp>.
#pragma once

#include <ad/scalar/dual.hpp>
#include <ad/scalar/expression.hpp>
#include <type_traits>

namespace ad {

// ---------------------------------------------------------------------------------------------
// Operators and functions: each builds the node of its op (value and partials above). Either
// operand of a binary op may be a Real, an expression, or a plain number. The same names on
// ad::Dual carry the value and partials forward.

#define AD_SCALAR_UNARY(Op, name)                                  \
  template <RealExpr A>                                            \
  inline auto name(const A& a) {                                   \
    return detail::unary<rules::Op>(a);                           \
  }                                                                \
  template <std::size_t N, class T>                                         \
  inline Dual<N, T> name(const Dual<N, T>& a) {                          \
    return Dual<N, T>::template unary<rules::Op>(a);                 \
  }
#define AD_SCALAR_BINARY(Op, name)                                 \
  template <RealExpr A, RealExpr B>                                \
  inline auto name(const A& a, const B& b) {                       \
    return detail::binary<rules::Op>(a, b);                       \
  }                                                                \
  template <RealExpr A>                                            \
  inline auto name(const A& a, double b) {                         \
    return detail::binary<rules::Op>(a, b);                       \
  }                                                                \
  template <RealExpr B>                                            \
  inline auto name(double a, const B& b) {                         \
    return detail::binary<rules::Op>(a, b);                       \
  }                                                                \
  template <std::size_t N, class T>                                         \
  inline Dual<N, T> name(const Dual<N, T>& a, const Dual<N, T>& b) {        \
    return Dual<N, T>::template binary<rules::Op>(a, b);             \
  }                                                                \
  template <std::size_t N, class T>                                         \
  inline Dual<N, T> name(const Dual<N, T>& a, double b) {                \
    return Dual<N, T>::template binary<rules::Op>(a, b);             \
  }                                                                \
  template <std::size_t N, class T>                                         \
  inline Dual<N, T> name(double a, const Dual<N, T>& b) {                \
    return Dual<N, T>::template binary<rules::Op>(a, b);             \
  }

template <RealExpr A>
inline A operator+(const A& a) {
  return a;
}
template <std::size_t N, class T>
inline Dual<N, T> operator+(const Dual<N, T>& a) {
  return a;
}
AD_SCALAR_UNARY(Neg, operator-)
AD_SCALAR_BINARY(Add, operator+)
AD_SCALAR_BINARY(Sub, operator-)
AD_SCALAR_BINARY(Mul, operator*)
AD_SCALAR_BINARY(Div, operator/)
AD_UNARY_RULES(AD_SCALAR_UNARY)
AD_BINARY_RULES(AD_SCALAR_BINARY)

/// x for x > 0, slope * x otherwise.
template <RealExpr A>
inline auto leaky_relu(const A& a, double slope = 0.01) {
  return RealUnaryExpr<rules::LeakyRelu, A>(a, rules::LeakyRelu{slope});
}
template <std::size_t N, class T>
inline Dual<N, T> leaky_relu(const Dual<N, T>& a, double slope = 0.01) {
  return Dual<N, T>::unary(a, rules::LeakyRelu{slope});
}
/// x for x > 0, alpha (e^x - 1) otherwise.
template <RealExpr A>
inline auto elu(const A& a, double alpha = 1.0) {
  return RealUnaryExpr<rules::Elu, A>(a, rules::Elu{alpha});
}
template <std::size_t N, class T>
inline Dual<N, T> elu(const Dual<N, T>& a, double alpha = 1.0) {
  return Dual<N, T>::unary(a, rules::Elu{alpha});
}
/// x clamped into [lo, hi] (lo <= hi).
template <RealExpr A>
inline auto clamp(const A& a, double lo, double hi) {
  return RealUnaryExpr<rules::Clamp, A>(a, rules::Clamp{lo, hi});
}
template <std::size_t N, class T>
inline Dual<N, T> clamp(const Dual<N, T>& a, double lo, double hi) {
  return Dual<N, T>::unary(a, rules::Clamp{lo, hi});
}

#undef AD_SCALAR_UNARY
#undef AD_SCALAR_BINARY

// `f += b` records the statement f + b. When f is the tape's last statement (the usual case in a
// loop `f += term`), it is recorded as a *linked* statement: b's pairs only, the pair (f, 1)
// being implicit (the sweep passes the adjoint down in a register). f then names the new node,
// as before, and f's old node is unchanged, so copies of f and expressions holding it keep
// their meaning. Values and partials are computed exactly as for f + b. Everything else (f a
// variable or a constant, another node recorded since, teaching mode, no room, b reading f's
// node) takes the usual path, out of line from a copy of b's leaves (see ScalarTape::record).
template <class Op, class E>
[[gnu::noinline]] detail::Recorded Real::accumulate_slow(ScalarTape* t, std::uint32_t id,
                                                         std::uint32_t epoch, double v,
                                                         const Real* leaves, bool linkable) {
  const E b = E::rebuild(leaves);
  if (linkable && !t->keep_values_) {  // only room was missing
    t->grow(1, E::leaves);
    const std::uint32_t node = t->write_linked(b, std::is_same_v<Op, rules::Add> ? 1.0 : -1.0, id, detail::scalar_kind<Op>);
    if (node != ScalarTape::no_statement) return {Op::value(v, b.value()), node};
  }
  const Real r = RealBinaryExpr<Op, Real, E>(Real(t, id, epoch, v), b);
  return {r.value(), r.id()};
}

template <class Op, class E>
[[gnu::always_inline]] inline Real& Real::accumulate(const E& b, double sign) {
  // Fields, not *this: an aggregate copy of the Real would keep f in memory through the loop.
  ScalarTape* const t = tape_;
  const std::uint32_t id = id_, epoch = epoch_;
  const double v = value_;
  bool linkable = false;
  if constexpr (E::leaves > 0 && E::leaves <= ScalarTape::max_statement_leaves) {
    // f is the last node and a listed statement of the current recording, b is of the same one
    linkable = t != nullptr && t->last_stmt_ == id && id + std::size_t{1} == t->n_ops_ &&
               epoch == t->epoch_ && b.tape() == t && b.epoch() == epoch;
    // and there is room (fast_ops_ is 0 in teaching mode)
    if (linkable && t->n_ops_ < t->fast_ops_ && t->n_args_ + E::leaves <= t->cap_args_) {
      const std::uint32_t node = t->write_linked(b, sign, id, detail::scalar_kind<Op>);
      if (node != ScalarTape::no_statement) [[likely]] {
        id_ = node;
        value_ = Op::value(v, b.value());
        return *this;
      }
      linkable = false;  // b reads f's node, or has no pair
    }
  }
  ScalarTape* const rt = t ? t : b.tape();
  if (rt == nullptr) {  // two constants
    value_ = Op::value(v, b.value());
    return *this;
  }
  std::array<Real, E::positions> leaves;
  b.collect(leaves.data());
  const detail::Recorded r = accumulate_slow<Op, E>(t, id, epoch, v, leaves.data(), linkable);
  *this = Real(rt, r.id, t ? epoch : b.epoch(), r.value);
  return *this;
}

// Always inlined: called from two places, GCC would otherwise make one copy out of line, whose
// call keeps f and the term in memory (W1b: 80 -> 250 us).
template <RealExpr E>
[[gnu::always_inline]] inline Real& Real::operator+=(const E& b) {
  return accumulate<rules::Add>(b, 1.0);
}
template <RealExpr E>
[[gnu::always_inline]] inline Real& Real::operator-=(const E& b) {
  return accumulate<rules::Sub>(b, -1.0);
}
template <RealExpr E>
inline Real& Real::operator*=(const E& b) {
  return *this = *this * b;
}
template <RealExpr E>
inline Real& Real::operator/=(const E& b) {
  return *this = *this / b;
}
inline Real& Real::operator+=(double b) { return *this = *this + b; }
inline Real& Real::operator-=(double b) { return *this = *this - b; }
inline Real& Real::operator*=(double b) { return *this = *this * b; }
inline Real& Real::operator/=(double b) { return *this = *this / b; }

// Comparisons look at values only (they record nothing, and carry no partials). The mixed ones
// are constrained by enable_if in the template head, not a concept: clang 14 forms the function
// type before checking a concept, and `operator==(int, double)` is then a hard error wherever
// ordinary lookup finds these templates (code in namespace ad comparing plain numbers).
#define AD_SCALAR_COMPARE(op)                                  \
  template <RealExpr A, RealExpr B>                            \
  inline bool operator op(const A& a, const B& b) {            \
    return a.value() op b.value();                             \
  }                                                            \
  template <class A, std::enable_if_t<RealExpr<A>, int> = 0>   \
  inline bool operator op(const A& a, double b) {              \
    return a.value() op b;                                     \
  }                                                            \
  template <class B, std::enable_if_t<RealExpr<B>, int> = 0>   \
  inline bool operator op(double a, const B& b) {              \
    return a op b.value();                                     \
  }                                                            \
  template <std::size_t N, class T>                                     \
  inline bool operator op(const Dual<N, T>& a, const Dual<N, T>& b) { \
    return a.value() op b.value();                             \
  }                                                            \
  template <std::size_t N, class T>                                     \
  inline bool operator op(const Dual<N, T>& a, double b) {        \
    return a.value() op b;                                     \
  }                                                            \
  template <std::size_t N, class T>                                     \
  inline bool operator op(double a, const Dual<N, T>& b) {        \
    return a op b.value();                                     \
  }
AD_SCALAR_COMPARE(==)
AD_SCALAR_COMPARE(!=)
AD_SCALAR_COMPARE(<)
AD_SCALAR_COMPARE(<=)
AD_SCALAR_COMPARE(>)
AD_SCALAR_COMPARE(>=)
#undef AD_SCALAR_COMPARE


}  // namespace ad
