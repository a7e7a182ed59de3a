// The calculus, written once: every elementwise op as a rule, its value and its local partial
// derivatives side by side, generic over the number type V.
//
// A unary rule has  value(x)  and  d(x, y) = dy/dx  (y = value(x), given because many
// derivatives are cheapest from it). A binary rule has value(a, b), da(a, b, y), db(a, b, y).
// A rule with parameters (leaky_relu's slope, clamp's bounds) keeps them as members.
//
// Every path of the engine is generated from these rules and the lists at the end:
//   - the scalar tape (ad::Real, <ad/scalar.hpp>): the statement's partials, at V = double;
//   - forward mode (ad::Dual, and through it ad::elementwise): the same, per input direction;
//   - the tensor ops (ad::exp(Var<T>), ... in <ad/ops.hpp>): unary rules at V = an xsimd batch
//     of float or double, binary rules at V = float or double, entry by entry;
//   - the adiff parser's functions and nn's activation names.
// V may also be an ad::Dual, which differentiates a rule itself (second derivatives).
//
// Adding an elementwise op is one rule below and its row in a list; see docs/adding-an-op.md.
//
// Conventions, the same on every path (they follow PyTorch):
//   - NaN propagates: a NaN input gives a NaN value and NaN partials (relu, abs, max, clamp, ...
//     included, although a comparison with NaN is false);
//   - kinks: relu'(0) = 0, abs'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha, clamp' = 1 on
//     [lo, hi] including its ends;
//   - max(a, b) and min(a, b) at a tie (a == b) give each argument half the gradient;
//   - hypot(0, 0): both partials 0; pow(a, b): d/da = 0 where b == 0, d/db = 0 where a^b == 0;
//   - outside a domain (log(-1), sqrt(-1), asin(2)) the value is NaN, as in <cmath>, and so are
//     the partials; nothing throws.
#pragma once

#include <ad/ops/math.hpp>

#include <limits>

namespace ad::rules {

using math::lit;
using math::select;

/// x if x is NaN, else v: how a rule whose comparisons are all false at NaN passes the NaN on.
template <class V>
V nan_or(const V& x, const V& v) {
  return select(x == x, v, x);
}

// ---- operators ------------------------------------------------------------------------------
// d(-x) = -dx
struct Neg {
  static constexpr const char* name = "neg";
  static constexpr bool constant_partials = true;  // the partials do not depend on the values
  template <class V> static V value(const V& x) { return -x; }
  template <class V> static V d(const V&, const V&) { return lit<V>(-1); }
};
// d(a + b) = da + db
struct Add {
  static constexpr const char* name = "add";
  static constexpr bool constant_partials = true;
  template <class V> static V value(const V& a, const V& b) { return a + b; }
  template <class V> static V da(const V&, const V&, const V&) { return lit<V>(1); }
  template <class V> static V db(const V&, const V&, const V&) { return lit<V>(1); }
};
// d(a - b) = da - db
struct Sub {
  static constexpr const char* name = "sub";
  static constexpr bool constant_partials = true;
  template <class V> static V value(const V& a, const V& b) { return a - b; }
  template <class V> static V da(const V&, const V&, const V&) { return lit<V>(1); }
  template <class V> static V db(const V&, const V&, const V&) { return lit<V>(-1); }
};
// d(a b) = b da + a db
struct Mul {
  static constexpr const char* name = "mul";
  template <class V> static V value(const V& a, const V& b) { return a * b; }
  template <class V> static V da(const V&, const V& b, const V&) { return b; }
  template <class V> static V db(const V& a, const V&, const V&) { return a; }
};
// d(a / b) = da / b - (a / b^2) db = (da - y db) / b
struct Div {
  static constexpr const char* name = "div";
  template <class V> static V value(const V& a, const V& b) { return a / b; }
  template <class V> static V da(const V&, const V& b, const V&) { return lit<V>(1) / b; }
  template <class V> static V db(const V&, const V& b, const V& y) { return -y / b; }
};

// ---- functions of one argument ----------------------------------------------------------------
// d exp(x) = exp(x) dx = y dx
struct Exp {
  static constexpr const char* name = "exp";
  template <class V> static V value(const V& x) { return math::exp(x); }
  template <class V> static V d(const V&, const V& y) { return y; }
};
// d log(x) = dx / x
struct Log {
  static constexpr const char* name = "log";
  template <class V> static V value(const V& x) { return math::log(x); }
  template <class V> static V d(const V& x, const V&) { return lit<V>(1) / x; }
};
// d log2(x) = dx / (x ln 2)
struct Log2 {
  static constexpr const char* name = "log2";
  template <class V> static V value(const V& x) { return math::log2(x); }
  template <class V> static V d(const V& x, const V&) { return lit<V>(1.4426950408889634) / x; }
};
// d log1p(x) = dx / (1 + x)
struct Log1p {
  static constexpr const char* name = "log1p";
  template <class V> static V value(const V& x) { return math::log1p(x); }
  template <class V> static V d(const V& x, const V&) { return lit<V>(1) / (lit<V>(1) + x); }
};
// d expm1(x) = exp(x) dx = (y + 1) dx
struct Expm1 {
  static constexpr const char* name = "expm1";
  template <class V> static V value(const V& x) { return math::expm1(x); }
  template <class V> static V d(const V&, const V& y) { return y + lit<V>(1); }
};
// d sqrt(x) = dx / (2 sqrt(x)) = dx / (2 y), computed as y (0.5 / x) where x is a normal number
// well inside the range: the division then runs alongside the square root instead of after it
// (docs/scalar-internals.md). Elsewhere
// (0, subnormals, inf, negatives, NaN) 0.5 / y keeps the exact limits (+inf at 0).
struct Sqrt {
  static constexpr const char* name = "sqrt";
  template <class V> static V value(const V& x) { return math::sqrt(x); }
  template <class V> static V d(const V& x, const V& y) {
    using S = math::scalar_t<V>;
    constexpr S lo = std::numeric_limits<S>::min() * 4, hi = std::numeric_limits<S>::max() / 4;
    if constexpr (math::Plain<V>) {
      if (x >= lo && x <= hi) [[likely]]
        return y * (V(0.5) / x);
      return V(0.5) / y;
    } else {
      return select(x >= lit<V>(lo), select(x <= lit<V>(hi), y * (lit<V>(0.5) / x), lit<V>(0.5) / y),
                    lit<V>(0.5) / y);
    }
  }
};
// d cbrt(x) = dx / (3 cbrt(x)^2) = dx / (3 y^2)
struct Cbrt {
  static constexpr const char* name = "cbrt";
  template <class V> static V value(const V& x) { return math::cbrt(x); }
  template <class V> static V d(const V&, const V& y) { return lit<V>(1) / (lit<V>(3) * y * y); }
};
// d sin(x) = cos(x) dx
struct Sin {
  static constexpr const char* name = "sin";
  template <class V> static V value(const V& x) { return math::sin(x); }
  template <class V> static V d(const V& x, const V&) { return math::cos(x); }
};
// d cos(x) = -sin(x) dx
struct Cos {
  static constexpr const char* name = "cos";
  template <class V> static V value(const V& x) { return math::cos(x); }
  template <class V> static V d(const V& x, const V&) { return -math::sin(x); }
};
// d tan(x) = (1 + tan(x)^2) dx = (1 + y^2) dx
struct Tan {
  static constexpr const char* name = "tan";
  template <class V> static V value(const V& x) { return math::tan(x); }
  template <class V> static V d(const V&, const V& y) { return lit<V>(1) + y * y; }
};
// d asin(x) = dx / sqrt(1 - x^2)
struct Asin {
  static constexpr const char* name = "asin";
  template <class V> static V value(const V& x) { return math::asin(x); }
  template <class V> static V d(const V& x, const V&) { return lit<V>(1) / math::sqrt(lit<V>(1) - x * x); }
};
// d acos(x) = -dx / sqrt(1 - x^2)
struct Acos {
  static constexpr const char* name = "acos";
  template <class V> static V value(const V& x) { return math::acos(x); }
  template <class V> static V d(const V& x, const V&) { return lit<V>(-1) / math::sqrt(lit<V>(1) - x * x); }
};
// d atan(x) = dx / (1 + x^2)
struct Atan {
  static constexpr const char* name = "atan";
  template <class V> static V value(const V& x) { return math::atan(x); }
  template <class V> static V d(const V& x, const V&) { return lit<V>(1) / (lit<V>(1) + x * x); }
};
// d sinh(x) = cosh(x) dx
struct Sinh {
  static constexpr const char* name = "sinh";
  template <class V> static V value(const V& x) { return math::sinh(x); }
  template <class V> static V d(const V& x, const V&) { return math::cosh(x); }
};
// d cosh(x) = sinh(x) dx
struct Cosh {
  static constexpr const char* name = "cosh";
  template <class V> static V value(const V& x) { return math::cosh(x); }
  template <class V> static V d(const V& x, const V&) { return math::sinh(x); }
};
// d tanh(x) = (1 - tanh(x)^2) dx = (1 - y^2) dx
struct Tanh {
  static constexpr const char* name = "tanh";
  template <class V> static V value(const V& x) { return math::tanh(x); }
  template <class V> static V d(const V&, const V& y) { return lit<V>(1) - y * y; }
};
// d asinh(x) = dx / sqrt(x^2 + 1)   (as hypot(x, 1): no overflow for large x)
struct Asinh {
  static constexpr const char* name = "asinh";
  template <class V> static V value(const V& x) { return math::asinh(x); }
  template <class V> static V d(const V& x, const V&) { return lit<V>(1) / math::hypot(x, lit<V>(1)); }
};
// d acosh(x) = dx / (sqrt(x - 1) sqrt(x + 1))   (x > 1)
struct Acosh {
  static constexpr const char* name = "acosh";
  template <class V> static V value(const V& x) { return math::acosh(x); }
  template <class V> static V d(const V& x, const V&) {
    return lit<V>(1) / (math::sqrt(x - lit<V>(1)) * math::sqrt(x + lit<V>(1)));
  }
};
// d atanh(x) = dx / (1 - x^2)   (|x| < 1)
struct Atanh {
  static constexpr const char* name = "atanh";
  template <class V> static V value(const V& x) { return math::atanh(x); }
  template <class V> static V d(const V& x, const V&) { return lit<V>(1) / ((lit<V>(1) - x) * (lit<V>(1) + x)); }
};
// d erf(x) = 2 / sqrt(pi) exp(-x^2) dx
struct Erf {
  static constexpr const char* name = "erf";
  template <class V> static V value(const V& x) { return math::erf(x); }
  template <class V> static V d(const V& x, const V&) { return lit<V>(1.1283791670955126) * math::exp(-x * x); }
};
// sigmoid(x) = 1 / (1 + exp(-x)), never exponentiating a positive number: with e = exp(-|x|),
// 1 / (1 + e) for x >= 0 and e / (1 + e) otherwise.  d sigmoid(x) = y (1 - y) dx
struct Sigmoid {
  static constexpr const char* name = "sigmoid";
  template <class V> static V value(const V& x) {
    const V e = math::exp(-math::fabs(x)), r = lit<V>(1) / (lit<V>(1) + e);
    return select(x >= lit<V>(0), r, e * r);
  }
  template <class V> static V d(const V&, const V& y) { return y * (lit<V>(1) - y); }
};
// softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))   (no overflow, no cancellation)
// d softplus(x) = sigmoid(x) dx
struct Softplus {
  static constexpr const char* name = "softplus";
  template <class V> static V value(const V& x) {
    return select(x > lit<V>(0), x, lit<V>(0)) + math::log1p(math::exp(-math::fabs(x)));
  }
  template <class V> static V d(const V& x, const V&) { return Sigmoid::value(x); }
};
// swish(x) = silu(x) = x sigmoid(x);  d swish(x) = s (1 + x (1 - s)) dx with s = sigmoid(x)
struct Swish {
  static constexpr const char* name = "swish";
  template <class V> static V value(const V& x) { return x * Sigmoid::value(x); }
  template <class V> static V d(const V& x, const V&) {
    const V s = Sigmoid::value(x);
    return s * (lit<V>(1) + x * (lit<V>(1) - s));
  }
};
// gelu(x) = x Phi(x) = x (1 + erf(x / sqrt(2))) / 2, Phi the standard normal distribution
// function (PyTorch's gelu, approximate="none");  d gelu(x) = Phi(x) + x exp(-x^2 / 2) / sqrt(2 pi)
struct Gelu {
  static constexpr const char* name = "gelu";
  template <class V> static V value(const V& x) {
    return lit<V>(0.5) * x * (lit<V>(1) + math::erf(x * lit<V>(0.7071067811865476)));
  }
  template <class V> static V d(const V& x, const V&) {
    return lit<V>(0.5) * (lit<V>(1) + math::erf(x * lit<V>(0.7071067811865476))) +
           x * lit<V>(0.3989422804014327) * math::exp(lit<V>(-0.5) * x * x);
  }
};
// d |x| = sign(x) dx, with abs'(0) = 0
struct Abs {
  static constexpr const char* name = "abs";
  template <class V> static V value(const V& x) { return math::fabs(x); }
  template <class V> static V d(const V& x, const V&) {
    return select(x > lit<V>(0), lit<V>(1), select(x < lit<V>(0), lit<V>(-1), nan_or(x, lit<V>(0))));
  }
};
// relu(x) = max(x, 0);  d relu(x) = [x > 0] dx, with relu'(0) = 0
struct Relu {
  static constexpr const char* name = "relu";
  template <class V> static V value(const V& x) { return select(x <= lit<V>(0), lit<V>(0), x); }
  template <class V> static V d(const V& x, const V&) {
    return select(x > lit<V>(0), lit<V>(1), nan_or(x, lit<V>(0)));
  }
};

// ---- functions of one argument with parameters -----------------------------------------------
// leaky_relu(x) = x for x > 0, slope x otherwise;  d = 1 for x > 0, slope otherwise
struct LeakyRelu {
  static constexpr const char* name = "leaky_relu";
  double slope = 0.01;
  template <class V> V value(const V& x) const { return select(x > lit<V>(0), x, lit<V>(slope) * x); }
  template <class V> V d(const V& x, const V&) const {
    return select(x > lit<V>(0), lit<V>(1), nan_or(x, lit<V>(slope)));
  }
};
// elu(x) = x for x > 0, alpha (exp(x) - 1) otherwise;  d = 1 for x > 0, alpha exp(x) = y + alpha
// otherwise
struct Elu {
  static constexpr const char* name = "elu";
  double alpha = 1.0;
  template <class V> V value(const V& x) const { return select(x > lit<V>(0), x, lit<V>(alpha) * math::expm1(x)); }
  template <class V> V d(const V& x, const V& y) const { return select(x > lit<V>(0), lit<V>(1), y + lit<V>(alpha)); }
};
// clamp(x) = lo below lo, hi above hi, x between;  d = 1 on [lo, hi] (ends included), 0 outside
struct Clamp {
  static constexpr const char* name = "clamp";
  double lo = 0.0, hi = 1.0;
  template <class V> V value(const V& x) const {
    return select(x < lit<V>(lo), lit<V>(lo), select(x > lit<V>(hi), lit<V>(hi), x));
  }
  template <class V> V d(const V& x, const V&) const {
    return select(x < lit<V>(lo), lit<V>(0), select(x > lit<V>(hi), lit<V>(0), nan_or(x, lit<V>(1))));
  }
};

// ---- functions of two arguments ---------------------------------------------------------------
// d a^b = b a^(b-1) da + a^b log(a) db;  d/da = 0 where b == 0, d/db = 0 where a^b == 0.
// b == 2 (the common square) is computed as a * a, exactly.
struct Pow {
  static constexpr const char* name = "pow";
  template <class V> static V value(const V& a, const V& b) {
    if constexpr (math::Plain<V>) return b == V(2) ? a * a : math::pow(a, b);
    return math::pow(a, b);
  }
  template <class V> static V da(const V& a, const V& b, const V&) {
    if constexpr (math::Plain<V>)
      if (b == V(2)) return V(2) * a;
    return select(b == lit<V>(0), lit<V>(0), b * math::pow(a, b - lit<V>(1)));
  }
  template <class V> static V db(const V& a, const V&, const V& y) {
    return select(y == lit<V>(0), lit<V>(0), y * math::log(a));
  }
};
// d atan2(a, b) = (b da - a db) / (a^2 + b^2)   (a is the "y" argument, b the "x")
struct Atan2 {
  static constexpr const char* name = "atan2";
  template <class V> static V value(const V& a, const V& b) { return math::atan2(a, b); }
  template <class V> static V da(const V& a, const V& b, const V&) { return b / (a * a + b * b); }
  template <class V> static V db(const V& a, const V& b, const V&) { return -a / (a * a + b * b); }
};
// max(a, b);  d = da where a > b, db where a < b, (da + db) / 2 at a tie; NaN if either is NaN
struct Max {
  static constexpr const char* name = "max";
  template <class V> static V value(const V& a, const V& b) {
    return select(a > b, a, select(a < b, b, nan_or(b, a)));  // a == b, or one is NaN
  }
  template <class V> static V da(const V& a, const V& b, const V& y) {
    return select(a > b, lit<V>(1), select(a < b, lit<V>(0), nan_or(y, lit<V>(0.5))));
  }
  template <class V> static V db(const V& a, const V& b, const V& y) {
    return select(a > b, lit<V>(0), select(a < b, lit<V>(1), nan_or(y, lit<V>(0.5))));
  }
};
// min(a, b);  d = da where a < b, db where a > b, (da + db) / 2 at a tie; NaN if either is NaN
struct Min {
  static constexpr const char* name = "min";
  template <class V> static V value(const V& a, const V& b) {
    return select(a < b, a, select(a > b, b, nan_or(b, a)));
  }
  template <class V> static V da(const V& a, const V& b, const V& y) {
    return select(a < b, lit<V>(1), select(a > b, lit<V>(0), nan_or(y, lit<V>(0.5))));
  }
  template <class V> static V db(const V& a, const V& b, const V& y) {
    return select(a < b, lit<V>(0), select(a > b, lit<V>(1), nan_or(y, lit<V>(0.5))));
  }
};
// d hypot(a, b) = (a da + b db) / y, with both partials 0 at (0, 0)
struct Hypot {
  static constexpr const char* name = "hypot";
  template <class V> static V value(const V& a, const V& b) { return math::hypot(a, b); }
  template <class V> static V da(const V& a, const V&, const V& y) {
    return select(y > lit<V>(0), a / y, nan_or(y, lit<V>(0)));
  }
  template <class V> static V db(const V&, const V& b, const V& y) {
    return select(y > lit<V>(0), b / y, nan_or(y, lit<V>(0)));
  }
};

}  // namespace ad::rules

// ---- the lists every path is generated from: X(Rule, function name) --------------------------
// The arithmetic operators (-x, a + b, a - b, a * b, a / b).
#define AD_OPERATOR_UNARY_RULES(X) X(Neg, neg)
#define AD_OPERATOR_BINARY_RULES(X) X(Add, add) X(Sub, sub) X(Mul, mul) X(Div, div)
// Functions of one argument: ad::exp(x) on Reals, Duals and tensors, exp(x) in adiff, and the
// activation "exp" in nn.
#define AD_UNARY_RULES(X)                                                                          \
  X(Exp, exp) X(Log, log) X(Log2, log2) X(Log1p, log1p) X(Expm1, expm1) X(Sqrt, sqrt) X(Cbrt, cbrt) \
  X(Sin, sin) X(Cos, cos) X(Tan, tan) X(Asin, asin) X(Acos, acos) X(Atan, atan) X(Sinh, sinh)       \
  X(Cosh, cosh) X(Tanh, tanh) X(Asinh, asinh) X(Acosh, acosh) X(Atanh, atanh) X(Erf, erf)           \
  X(Sigmoid, sigmoid) X(Softplus, softplus) X(Swish, swish) X(Gelu, gelu) X(Abs, abs) X(Relu, relu)
// Functions of one argument and fixed parameters (written out by hand on each path, for their
// parameters' names and defaults).
#define AD_PARAMETRIC_RULES(X) X(LeakyRelu, leaky_relu) X(Elu, elu) X(Clamp, clamp)
// Functions of two arguments: ad::pow(a, b), ...
#define AD_BINARY_RULES(X) X(Pow, pow) X(Atan2, atan2) X(Max, max) X(Min, min) X(Hypot, hypot)
// Everything, for tables indexed by op.
#define AD_ALL_RULES(X)                                                                            \
  AD_OPERATOR_UNARY_RULES(X) AD_OPERATOR_BINARY_RULES(X) AD_UNARY_RULES(X) AD_PARAMETRIC_RULES(X)  \
  AD_BINARY_RULES(X)
