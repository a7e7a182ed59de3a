// The op rules (<ad/ops/rules.hpp>) on every path they feed: the scalar tape (ad::Real), forward
// mode (ad::Dual), the tensor ops in double and float, and the adiff parser. Each function of
// the rule lists must have a row here, with an independent reference for its value (long double
// <cmath>, or a formula written out) and points of its domain; the derivative is checked against
// central differences of that reference. A rule without a row fails the test.
//
// Then the conventions, on every path: NaN propagates (value and derivative), the kinks, ties of
// max/min; and the rules differentiated once more at V = ad::Dual (second derivatives), against
// differences of the first.
#include <ad/expression.hpp>
#include <ad/ops.hpp>
#include <ad/ops/rules.hpp>
#include <ad/scalar.hpp>

#include <doctest/doctest.h>

#include "support.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace {

using LD = long double;
const double nan_v = std::numeric_limits<double>::quiet_NaN();

/// |a - b| <= tol max(1, |b|): relative, and absolute near zero (the suite's rel_err).
bool near(double a, double b, double tol) { return support::rel_err(a, b, support::Rel::floor_one) <= tol; }

// ---- the test rows: a reference and points, per function name ---------------------------------
struct UnaryRow {
  std::function<LD(LD)> f;
  std::vector<double> at;
};
LD sigmoid_ref(LD x) { return 1 / (1 + std::exp(-x)); }
const std::map<std::string, UnaryRow> unary_rows = {
    {"neg", {[](LD x) { return -x; }, {-2.5, 0.0, 3.0}}},
    {"exp", {[](LD x) { return std::exp(x); }, {-3.0, 0.0, 1.5}}},
    {"log", {[](LD x) { return std::log(x); }, {0.25, 1.0, 7.0}}},
    {"log2", {[](LD x) { return std::log2(x); }, {0.25, 1.0, 7.0}}},
    {"log1p", {[](LD x) { return std::log1p(x); }, {-0.5, 0.0, 3.0}}},
    {"expm1", {[](LD x) { return std::expm1(x); }, {-2.0, 1e-3, 1.5}}},
    {"sqrt", {[](LD x) { return std::sqrt(x); }, {0.01, 2.0, 1e6}}},
    {"cbrt", {[](LD x) { return std::cbrt(x); }, {-8.0, 0.5, 27.0}}},
    {"sin", {[](LD x) { return std::sin(x); }, {-2.0, 0.3, 4.0}}},
    {"cos", {[](LD x) { return std::cos(x); }, {-2.0, 0.3, 4.0}}},
    {"tan", {[](LD x) { return std::tan(x); }, {-1.0, 0.3, 1.2}}},
    {"asin", {[](LD x) { return std::asin(x); }, {-0.9, 0.0, 0.5}}},
    {"acos", {[](LD x) { return std::acos(x); }, {-0.9, 0.0, 0.5}}},
    {"atan", {[](LD x) { return std::atan(x); }, {-3.0, 0.0, 0.5}}},
    {"sinh", {[](LD x) { return std::sinh(x); }, {-2.0, 0.1, 3.0}}},
    {"cosh", {[](LD x) { return std::cosh(x); }, {-2.0, 0.1, 3.0}}},
    {"tanh", {[](LD x) { return std::tanh(x); }, {-2.0, 0.1, 3.0}}},
    {"asinh", {[](LD x) { return std::asinh(x); }, {-2.0, 0.1, 30.0}}},
    {"acosh", {[](LD x) { return std::acosh(x); }, {1.5, 3.0, 30.0}}},
    {"atanh", {[](LD x) { return std::atanh(x); }, {-0.9, 0.0, 0.5}}},
    {"erf", {[](LD x) { return std::erf(x); }, {-2.0, 0.1, 1.5}}},
    {"sigmoid", {sigmoid_ref, {-30.0, -1.0, 0.5, 20.0}}},
    {"softplus", {[](LD x) { return std::log1p(std::exp(x)); }, {-30.0, -1.0, 0.5, 20.0}}},
    {"swish", {[](LD x) { return x * sigmoid_ref(x); }, {-30.0, -1.0, 0.5, 20.0}}},
    {"gelu", {[](LD x) { return x * (1 + std::erf(x / std::sqrt(2.0L))) / 2; }, {-3.0, -0.5, 0.0, 1.5}}},
    {"abs", {[](LD x) { return std::fabs(x); }, {-2.0, 0.5, 3.0}}},
    {"relu", {[](LD x) { return x > 0 ? x : 0; }, {-2.0, 0.5, 3.0}}},
};

struct BinaryRow {
  std::function<LD(LD, LD)> f;
  std::vector<std::pair<double, double>> at;
};
const std::map<std::string, BinaryRow> binary_rows = {
    {"add", {[](LD a, LD b) { return a + b; }, {{1.5, -2.0}, {0.0, 3.0}}}},
    {"sub", {[](LD a, LD b) { return a - b; }, {{1.5, -2.0}, {0.0, 3.0}}}},
    {"mul", {[](LD a, LD b) { return a * b; }, {{1.5, -2.0}, {0.0, 3.0}}}},
    {"div", {[](LD a, LD b) { return a / b; }, {{1.5, -2.0}, {0.5, 3.0}}}},
    {"pow", {[](LD a, LD b) { return std::pow(a, b); }, {{1.5, 2.0}, {0.7, -1.5}, {2.0, 0.5}}}},
    {"atan2", {[](LD a, LD b) { return std::atan2(a, b); }, {{1.0, 2.0}, {-1.0, -0.5}, {0.5, -3.0}}}},
    {"max", {[](LD a, LD b) { return a > b ? a : b; }, {{1.0, 2.0}, {-1.0, -3.0}}}},
    {"min", {[](LD a, LD b) { return a < b ? a : b; }, {{1.0, 2.0}, {-1.0, -3.0}}}},
    {"hypot", {[](LD a, LD b) { return std::hypot(a, b); }, {{3.0, 4.0}, {-1.0, 0.5}}}},
};

/// Central difference of a long double reference, with a step scaled to x.
template <class F>
double central(F&& f, double x) {
  const LD h = 1e-6L * std::max<LD>(1, std::fabs(x));
  return static_cast<double>((f(x + h) - f(x - h)) / (2 * h));
}

// ---- the paths, generated from the lists ------------------------------------------------------
struct UnaryPaths {
  const char* name;
  ad::Real (*real)(const ad::Real&);
  ad::Dual<1> (*dual)(const ad::Dual<1>&);
  ad::Var<double> (*tensor)(const ad::Var<double>&);
  ad::Var<float> (*tensor_f)(const ad::Var<float>&);
};
#define UNARY_PATHS(Rule, fn)                                            \
  UnaryPaths{#fn, [](const ad::Real& x) -> ad::Real { return fn(x); },  \
             [](const ad::Dual<1>& x) -> ad::Dual<1> { return fn(x); }, \
             [](const ad::Var<double>& x) { return ad::fn(x); },        \
             [](const ad::Var<float>& x) { return ad::fn(x); }},
ad::Real neg(const ad::Real& x) { return -x; }
ad::Dual<1> neg(const ad::Dual<1>& x) { return -x; }
const UnaryPaths unary_paths[] = {AD_OPERATOR_UNARY_RULES(UNARY_PATHS) AD_UNARY_RULES(UNARY_PATHS)};
const bool unary_parser[] = {
#define IN_PARSER(Rule, fn) false,
    AD_OPERATOR_UNARY_RULES(IN_PARSER)
#undef IN_PARSER
#define IN_PARSER(Rule, fn) true,
        AD_UNARY_RULES(IN_PARSER)
#undef IN_PARSER
};

struct BinaryPaths {
  const char* name;
  ad::Real (*real)(const ad::Real&, const ad::Real&);
  ad::Dual<2> (*dual)(const ad::Dual<2>&, const ad::Dual<2>&);
  ad::Var<double> (*tensor)(const ad::Var<double>&, const ad::Var<double>&);
  ad::Var<float> (*tensor_f)(const ad::Var<float>&, const ad::Var<float>&);
  bool parser;
};
ad::Real add(const ad::Real& a, const ad::Real& b) { return a + b; }
ad::Real sub(const ad::Real& a, const ad::Real& b) { return a - b; }
ad::Real mul(const ad::Real& a, const ad::Real& b) { return a * b; }
ad::Real div(const ad::Real& a, const ad::Real& b) { return a / b; }
ad::Dual<2> add(const ad::Dual<2>& a, const ad::Dual<2>& b) { return a + b; }
ad::Dual<2> sub(const ad::Dual<2>& a, const ad::Dual<2>& b) { return a - b; }
ad::Dual<2> mul(const ad::Dual<2>& a, const ad::Dual<2>& b) { return a * b; }
ad::Dual<2> div(const ad::Dual<2>& a, const ad::Dual<2>& b) { return a / b; }
#define BINARY_PATHS(Rule, fn, parser)                                                  \
  BinaryPaths{#fn, [](const ad::Real& a, const ad::Real& b) -> ad::Real { return fn(a, b); }, \
              [](const ad::Dual<2>& a, const ad::Dual<2>& b) -> ad::Dual<2> { return fn(a, b); }, \
              [](const ad::Var<double>& a, const ad::Var<double>& b) { return ad::fn(a, b); }, \
              [](const ad::Var<float>& a, const ad::Var<float>& b) { return ad::fn(a, b); }, parser},
#define BINARY_OPERATOR_PATHS(Rule, fn) BINARY_PATHS(Rule, fn, false)
#define BINARY_FUNCTION_PATHS(Rule, fn) BINARY_PATHS(Rule, fn, true)
const BinaryPaths binary_paths[] = {AD_OPERATOR_BINARY_RULES(BINARY_OPERATOR_PATHS)
                                        AD_BINARY_RULES(BINARY_FUNCTION_PATHS)};

// ---- every path at one point ------------------------------------------------------------------
struct Result {
  double value, d;
};
Result on_real(const UnaryPaths& p, double x) {
  ad::ScalarTape tape;
  ad::Real v = tape.variable(x);
  ad::Real y = p.real(v);
  return {y.value(), ad::derivative(y, v)};
}
Result on_dual(const UnaryPaths& p, double x) {
  const ad::Dual<1> y = p.dual(ad::Dual<1>(x, 0));
  return {y.value(), y.partial(0)};
}
template <class T, class F>
Result on_tensor(F f, double x) {
  ad::Tape<T> tape;
  // Seventeen copies, so that the xsimd kernels run whole batches and the padded tail alike.
  auto v = tape.variable(xt::xarray<T>(std::vector<std::size_t>{17}, static_cast<T>(x)));
  auto y = f(v);
  tape.backward(ad::sum(y));
  for (std::size_t i = 1; i < 17; ++i) {
    CHECK_MESSAGE(near(y.value()(i), y.value()(0), 0), "entry " << i << " differs from entry 0");
    CHECK_MESSAGE(near(v.grad()(i), v.grad()(0), 0), "adjoint " << i << " differs from adjoint 0");
  }
  return {static_cast<double>(y.value()(0)), static_cast<double>(v.grad()(0))};
}
Result on_parser(const char* fn, double x) {
  ad::Expression e(std::string(fn) + "(x)");
  ad::ScalarTape tape;
  ad::Real v = tape.variable(x);
  ad::Real y = e.evaluate(std::span<const ad::Real>(&v, 1));
  return {y.value(), ad::derivative(y, v)};
}

}  // namespace

TEST_CASE("op rules: every function of one argument, on every path, against its reference") {
  int checked = 0;
  for (std::size_t k = 0; k < std::size(unary_paths); ++k) {
    const UnaryPaths& p = unary_paths[k];
    CAPTURE(p.name);
    const auto row = unary_rows.find(p.name);
    REQUIRE_MESSAGE(row != unary_rows.end(), "no test row for the rule " << p.name);
    for (double x : row->second.at) {
      CAPTURE(x);
      const double want = static_cast<double>(row->second.f(x));
      const double dwant = central(row->second.f, x);
      const Result r = on_real(p, x), d = on_dual(p, x);
      const Result t = on_tensor<double>(p.tensor, x), tf = on_tensor<float>(p.tensor_f, x);
      CHECK(near(r.value, want, 4e-16));
      CHECK(near(r.d, dwant, 1e-8));
      // The same rule at the same type: the same numbers, up to how the compiler fuses
      // multiply-adds at each call site (-ffp-contract).
      CHECK(near(d.value, r.value, 2e-15));
      CHECK(near(d.d, r.d, 2e-15));
      CHECK(near(t.value, want, 4e-15));  // xsimd's functions: within a few ulps
      CHECK(near(t.d, dwant, 1e-8));
      CHECK(near(tf.value, want, 2e-6));
      CHECK(near(tf.d, dwant, 3e-5));
      if (unary_parser[k]) {
        const Result e = on_parser(p.name, x);
        CHECK(near(e.value, r.value, 2e-15));
        CHECK(near(e.d, r.d, 2e-15));
      }
      ++checked;
    }
  }
  CHECK(checked >= 70);
}

TEST_CASE("op rules: every function of two arguments, on every path, against its reference") {
  for (const BinaryPaths& p : binary_paths) {
    CAPTURE(p.name);
    const auto row = binary_rows.find(p.name);
    REQUIRE_MESSAGE(row != binary_rows.end(), "no test row for the rule " << p.name);
    for (auto [a, b] : row->second.at) {
      CAPTURE(a);
      CAPTURE(b);
      const auto& f = row->second.f;
      const double want = static_cast<double>(f(a, b));
      const double da = central([&](LD u) { return f(u, b); }, a);
      const double db = central([&](LD u) { return f(a, u); }, b);
      ad::ScalarTape tape;
      ad::Real va = tape.variable(a), vb = tape.variable(b);
      ad::Real y = p.real(va, vb);
      auto [ra, rb] = ad::derivatives(y, ad::wrt(va, vb));
      CHECK(near(y.value(), want, 4e-16));
      CHECK(near(ra, da, 1e-8));
      CHECK(near(rb, db, 1e-8));
      const ad::Dual<2> yd = p.dual(ad::Dual<2>(a, 0), ad::Dual<2>(b, 1));
      CHECK(near(yd.value(), y.value(), 2e-15));
      CHECK(near(yd.partial(0), ra, 2e-15));
      CHECK(near(yd.partial(1), rb, 2e-15));
      // Tensors: b broadcast over a (3,) vector, so its adjoint is the sum of three.
      ad::Tape<double> t;
      auto ta = t.variable(xt::xarray<double>{a, a, a}), tb = t.variable(xt::xarray<double>{b});
      auto ty = p.tensor(ta, tb);
      t.backward(ad::sum(ty));
      CHECK(near(ty.value()(2), y.value(), 2e-15));
      CHECK(near(ta.grad()(1), ra, 2e-15));
      CHECK(near(tb.grad()(0), 3 * rb, 1e-15));
      ad::Tape<float> tf;
      auto fa = tf.variable(xt::xarray<float>{float(a)}), fb = tf.variable(xt::xarray<float>{float(b)});
      auto fy = p.tensor_f(fa, fb);
      tf.backward(ad::sum(fy));
      CHECK(near(fy.value()(0), want, 2e-6));
      CHECK(near(fa.grad()(0), da, 3e-5));
      CHECK(near(fb.grad()(0), db, 3e-5));
      if (p.parser) {
        ad::Expression e(std::string(p.name) + "(a, b)");
        ad::ScalarTape pt;
        const ad::Real args[] = {pt.variable(a), pt.variable(b)};
        ad::Real ye = e.evaluate(args);
        auto [ea, eb] = ad::derivatives(ye, ad::wrt(args[0], args[1]));
        CHECK(near(ye.value(), y.value(), 2e-15));
        CHECK(near(ea, ra, 2e-15));
        CHECK(near(eb, rb, 2e-15));
      }
    }
  }
}

TEST_CASE("op rules: NaN propagates through every function, value and derivative, on every path") {
  for (std::size_t k = 0; k < std::size(unary_paths); ++k) {
    const UnaryPaths& p = unary_paths[k];
    CAPTURE(p.name);
    const Result r = on_real(p, nan_v), d = on_dual(p, nan_v);
    const Result t = on_tensor<double>(p.tensor, nan_v), tf = on_tensor<float>(p.tensor_f, nan_v);
    CHECK(std::isnan(r.value));
    CHECK(std::isnan(d.value));
    CHECK(std::isnan(t.value));
    CHECK(std::isnan(tf.value));
    if (std::string(p.name) != "neg") {  // -x has the constant derivative -1
      CHECK(std::isnan(r.d));
      CHECK(std::isnan(d.d));
      CHECK(std::isnan(t.d));
      CHECK(std::isnan(tf.d));
    }
  }
  // The functions with parameters, and max/min, whose comparisons are all false at NaN.
  ad::Tape<double> t;
  auto x = t.variable(xt::xarray<double>{nan_v, 1.0});
  auto other = t.variable(xt::xarray<double>{0.0, nan_v});
  for (auto y : {ad::leaky_relu(x), ad::elu(x), ad::clamp(x, -1.0, 0.5), ad::relu(x) * 1.0}) {
    t.backward(ad::sum(y));
    CHECK(std::isnan(y.value()(0)));
    CHECK(std::isnan(x.grad()(0)));
  }
  for (auto y : {ad::maximum(x, other), ad::minimum(x, other), ad::max(other, x)}) {
    t.backward(ad::sum(y));
    CHECK(std::isnan(y.value()(0)));  // NaN in the first argument
    CHECK(std::isnan(y.value()(1)));  // NaN in the second
    CHECK(std::isnan(x.grad()(0)));
    CHECK(std::isnan(other.grad()(1)));
  }
  ad::ScalarTape tape;
  ad::Real a = tape.variable(nan_v), b = tape.variable(2.0);
  for (ad::Real y : {ad::Real(max(a, b)), ad::Real(min(b, a)), ad::Real(clamp(a, 0.0, 1.0)), ad::Real(leaky_relu(a))}) {
    CHECK(std::isnan(y.value()));
    CHECK(std::isnan(ad::derivative(y, a)));
  }
}

TEST_CASE("op rules: kinks and ties, the same on every path") {
  // Reals and tensors at the kink.
  ad::ScalarTape tape;
  ad::Real z = tape.variable(0.0);
  CHECK(ad::derivative(relu(z), z) == 0.0);
  CHECK(ad::derivative(abs(z), z) == 0.0);
  CHECK(ad::derivative(leaky_relu(z, 0.2), z) == 0.2);
  CHECK(ad::derivative(elu(z, 1.5), z) == 1.5);
  // A rule's parameters survive every way of recording: a fresh tape's first statement (which
  // grows the buffers and rebuilds the expression from its leaves) and teaching mode.
  for (bool teaching : {false, true}) {
    ad::ScalarTape fresh;
    fresh.keep_values(teaching);
    ad::Real u = fresh.variable(-2.0);
    ad::Real f = leaky_relu(u * 1.0, 0.3) + elu(u, 2.0) + clamp(u, -3.0, 1.0);
    CHECK(f.value() == -0.6 + 2.0 * std::expm1(-2.0) - 2.0);
    CHECK(near(ad::derivative(f, u), 0.3 + 2.0 * std::exp(-2.0) + 1.0, 1e-15));
  }
  ad::Real lo = tape.variable(-1.0), hi = tape.variable(2.0);
  CHECK(ad::derivative(clamp(lo, -1.0, 2.0), lo) == 1.0);  // the ends are inside
  CHECK(ad::derivative(clamp(hi, -1.0, 2.0), hi) == 1.0);
  CHECK(ad::derivative(clamp(hi, -1.0, 1.5), hi) == 0.0);
  ad::Real a = tape.variable(1.0), b = tape.variable(1.0);
  auto [ma, mb] = ad::derivatives(max(a, b), ad::wrt(a, b));
  CHECK(ma == 0.5);
  CHECK(mb == 0.5);
  const ad::Dual<2> md = max(ad::Dual<2>(1.0, 0), ad::Dual<2>(1.0, 1));
  CHECK(md.partial(0) == 0.5);
  CHECK(md.partial(1) == 0.5);

  ad::Tape<float> t;
  auto x = t.variable(xt::xarray<float>{0.0f, 0.0f, -1.0f, 2.0f});
  struct Case {
    ad::Var<float> y;
    std::vector<float> grad;
  };
  for (auto [y, want] : {Case{ad::relu(x), {0, 0, 0, 1}}, Case{ad::abs(x), {0, 0, -1, 1}},
                          Case{ad::leaky_relu(x, 0.25f), {0.25f, 0.25f, 0.25f, 1}},
                          Case{ad::clamp(x, -1.0f, 2.0f), {1, 1, 1, 1}},
                          Case{ad::maximum(x, t.constant(xt::xarray<float>{0.0f})), {0.5f, 0.5f, 0, 1}}}) {
    CAPTURE(y.op());
    t.backward(ad::sum(y));
    for (std::size_t i = 0; i < 4; ++i) CHECK(x.grad()(i) == want[i]);
  }
}

TEST_CASE("op rules: second derivatives, by evaluating a rule's derivative on ad::Dual") {
  // d/dx of rule.d(x, y(x)) with forward mode, against central differences of rule.d itself.
  auto check = [](const char* name, auto rule, std::vector<double> at) {
    CAPTURE(name);
    for (double x : at) {
      CAPTURE(x);
      const ad::Dual<1> xd(x, 0);
      const ad::Dual<1> yd = rule.value(xd);
      const ad::Dual<1> dd = rule.d(xd, yd);
      auto first = [&](double u) { return rule.d(u, rule.value(u)); };
      const double h = 1e-5 * std::max(1.0, std::fabs(x));
      const double fd = (first(x + h) - first(x - h)) / (2 * h);
      CHECK(dd.value() == first(x));
      CHECK(near(dd.partial(0), fd, 1e-6));
    }
  };
#define SECOND(Rule, fn) check(#fn, ad::rules::Rule{}, unary_rows.at(#fn).at);
  AD_OPERATOR_UNARY_RULES(SECOND)
  AD_UNARY_RULES(SECOND)
#undef SECOND
  check("leaky_relu", ad::rules::LeakyRelu{0.3}, {-1.0, 2.0});
  check("elu", ad::rules::Elu{1.5}, {-1.0, 2.0});
  // Hand-derived: sigmoid'' = s (1 - s) (1 - 2 s), tanh'' = -2 tanh (1 - tanh^2).
  const double s = 1 / (1 + std::exp(-0.7));
  const ad::Dual<1> x(0.7, 0);
  CHECK(near(ad::rules::Sigmoid::d(x, ad::rules::Sigmoid::value(x)).partial(0), s * (1 - s) * (1 - 2 * s), 1e-14));
  const double th = std::tanh(0.7);
  CHECK(near(ad::rules::Tanh::d(x, ad::rules::Tanh::value(x)).partial(0), -2 * th * (1 - th * th), 1e-14));
}

namespace {
/// Every function of one argument on a tensor of type T at the extremes, against the same rule
/// on the scalar tape (the <cmath> functions): the SIMD kernels must give the C library's values
/// and derivatives there (and make no undefined conversion inside xsimd: the sanitizer build runs
/// this too).
template <class T>
void check_extremes(const UnaryPaths& p, ad::Var<T> (*tensor)(const ad::Var<T>&)) {
  const T inf = std::numeric_limits<T>::infinity(), big = std::numeric_limits<T>::max();
  const std::vector<T> xs = {T(1e20), T(-1e20), inf, -inf, big, -big, T(700), T(-700), T(88.5),
                             T(-88.5), T(1e4 + 1), T(-1e4 - 1), T(0), T(-0.0), T(1e-30), T(0.5),
                             std::numeric_limits<T>::denorm_min()};
  xt::xarray<T> values = xt::xarray<T>::from_shape({xs.size()});
  std::copy(xs.begin(), xs.end(), values.begin());
  ad::Tape<T> tape;
  auto v = tape.variable(values);
  auto y = tensor(v);
  tape.backward(ad::sum(y));
  // xsimd's pow is exp(p log x): its error grows with |p log x| (1e20^2.5: 2e-14 with SSE).
  const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-13;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    CAPTURE(xs[i]);
    const Result want = on_real(p, static_cast<double>(xs[i]));
    // In float the reference is rounded to float (an overflow there is inf on both sides).
    CHECK_MESSAGE(near(double(y.value()(i)), double(T(want.value)), tol), "value of " << std::string(p.name) << ": " << y.value()(i) << " vs " << want.value);
    CHECK_MESSAGE(near(double(v.grad()(i)), double(T(want.d)), std::is_same_v<T, float> ? 1e-5 : 1e-13),
                  "derivative of " << std::string(p.name) << ": " << v.grad()(i) << " vs " << want.d);
  }
}
}  // namespace

TEST_CASE("op rules: tensor kernels at the extremes give the C library's values, float and double") {
  for (const UnaryPaths& p : unary_paths) {
    check_extremes<double>(p, p.tensor);
    check_extremes<float>(p, p.tensor_f);
  }
  // The rules with parameters, and pow with a fixed exponent (the binary rule, bound).
  const UnaryPaths parametric[] = {
      {"pow 2.5", [](const ad::Real& x) -> ad::Real { return pow(x, 2.5); }, nullptr,
       [](const ad::Var<double>& x) { return ad::pow(x, 2.5); }, [](const ad::Var<float>& x) { return ad::pow(x, 2.5f); }},
      {"pow -1.5", [](const ad::Real& x) -> ad::Real { return pow(x, -1.5); }, nullptr,
       [](const ad::Var<double>& x) { return ad::pow(x, -1.5); }, [](const ad::Var<float>& x) { return ad::pow(x, -1.5f); }},
      {"leaky_relu", [](const ad::Real& x) -> ad::Real { return leaky_relu(x, 0.25); }, nullptr,
       [](const ad::Var<double>& x) { return ad::leaky_relu(x, 0.25); }, [](const ad::Var<float>& x) { return ad::leaky_relu(x, 0.25f); }},
      {"elu", [](const ad::Real& x) -> ad::Real { return elu(x, 1.5); }, nullptr,
       [](const ad::Var<double>& x) { return ad::elu(x, 1.5); }, [](const ad::Var<float>& x) { return ad::elu(x, 1.5f); }},
      {"clamp", [](const ad::Real& x) -> ad::Real { return clamp(x, -0.5, 0.75); }, nullptr,
       [](const ad::Var<double>& x) { return ad::clamp(x, -0.5, 0.75); }, [](const ad::Var<float>& x) { return ad::clamp(x, -0.5f, 0.75f); }},
  };
  for (const UnaryPaths& p : parametric) {
    check_extremes<double>(p, p.tensor);
    check_extremes<float>(p, p.tensor_f);
  }
}
