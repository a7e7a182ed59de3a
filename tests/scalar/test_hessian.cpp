// Second derivatives: ad::hessian (nested ad::Dual over the op rules) and Expression::hessian
// (the parser's), against second derivatives derived by hand for every function of the rule
// lists, and against central differences of the exact gradient (the scalar tape's).
#include <ad/expression.hpp>
#include <ad/scalar.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <map>
#include <numbers>
#include <string>
#include <vector>

namespace {

bool close(double got, double want, double tol) { return support::rel_err(got, want, support::Rel::floor_one) <= tol; }

/// d2f/dx2 derived by hand, and points of the domain, per function of one argument.
struct Second {
  std::function<double(double)> f2;
  std::vector<double> at;
};
double sig(double x) { return 1 / (1 + std::exp(-x)); }
double phi(double x) { return std::exp(-x * x / 2) / std::sqrt(2 * std::numbers::pi); }
const std::map<std::string, Second> second = {
    {"exp", {[](double x) { return std::exp(x); }, {-1.0, 0.5, 2.0}}},
    {"log", {[](double x) { return -1 / (x * x); }, {0.25, 1.5, 7.0}}},
    {"log2", {[](double x) { return -1 / (x * x * std::numbers::ln2); }, {0.25, 1.5, 7.0}}},
    {"log1p", {[](double x) { return -1 / ((1 + x) * (1 + x)); }, {-0.5, 0.5, 3.0}}},
    {"expm1", {[](double x) { return std::exp(x); }, {-1.0, 0.5, 2.0}}},
    {"sqrt", {[](double x) { return -0.25 / (x * std::sqrt(x)); }, {0.25, 2.0, 9.0}}},
    {"cbrt", {[](double x) { return -2.0 / (9 * std::cbrt(x) * std::cbrt(x) * x); }, {-8.0, 0.5, 27.0}}},
    {"sin", {[](double x) { return -std::sin(x); }, {-2.0, 0.3, 4.0}}},
    {"cos", {[](double x) { return -std::cos(x); }, {-2.0, 0.3, 4.0}}},
    {"tan", {[](double x) { const double t = std::tan(x); return 2 * t * (1 + t * t); }, {-1.0, 0.3, 1.2}}},
    {"asin", {[](double x) { return x / std::pow(1 - x * x, 1.5); }, {-0.9, 0.0, 0.5}}},
    {"acos", {[](double x) { return -x / std::pow(1 - x * x, 1.5); }, {-0.9, 0.0, 0.5}}},
    {"atan", {[](double x) { return -2 * x / ((1 + x * x) * (1 + x * x)); }, {-3.0, 0.0, 0.5}}},
    {"sinh", {[](double x) { return std::sinh(x); }, {-2.0, 0.1, 3.0}}},
    {"cosh", {[](double x) { return std::cosh(x); }, {-2.0, 0.1, 3.0}}},
    {"tanh", {[](double x) { const double t = std::tanh(x); return -2 * t * (1 - t * t); }, {-2.0, 0.1, 3.0}}},
    {"asinh", {[](double x) { return -x / std::pow(x * x + 1, 1.5); }, {-2.0, 0.1, 30.0}}},
    {"acosh", {[](double x) { return -x / std::pow(x * x - 1, 1.5); }, {1.5, 3.0, 30.0}}},
    {"atanh", {[](double x) { return 2 * x / ((1 - x * x) * (1 - x * x)); }, {-0.9, 0.0, 0.5}}},
    {"erf", {[](double x) { return -4 * x / std::sqrt(std::numbers::pi) * std::exp(-x * x); }, {-2.0, 0.1, 1.5}}},
    {"sigmoid", {[](double x) { const double s = sig(x); return s * (1 - s) * (1 - 2 * s); }, {-3.0, 0.5, 4.0}}},
    {"softplus", {[](double x) { const double s = sig(x); return s * (1 - s); }, {-3.0, 0.5, 4.0}}},
    {"swish", {[](double x) { const double s = sig(x); return s * (1 - s) * (2 + x * (1 - 2 * s)); }, {-3.0, 0.5, 4.0}}},
    {"gelu", {[](double x) { return phi(x) * (2 - x * x); }, {-3.0, -0.5, 0.0, 1.5}}},
    {"abs", {[](double) { return 0.0; }, {-2.0, 0.5}}},
    {"relu", {[](double) { return 0.0; }, {-2.0, 0.5}}},
};

/// The exact gradient at x (scalar tape), of an expression.
std::vector<double> tape_gradient(const ad::Expression& e, const std::vector<double>& x) {
  ad::ScalarTape t;
  std::vector<ad::Real> xs;
  for (double v : x) xs.push_back(t.variable(v));
  const ad::Real y = e.evaluate(xs);
  return t.grad(y, xs);
}
/// Central differences of that gradient: column j of the Hessian.
std::vector<std::vector<double>> gradient_differences(const ad::Expression& e, const std::vector<double>& x) {
  const std::size_t n = x.size();
  std::vector<std::vector<double>> h(n, std::vector<double>(n));
  for (std::size_t j = 0; j < n; ++j) {
    const double step = 1e-5 * std::max(1.0, std::fabs(x[j]));
    std::vector<double> p = x, m = x;
    p[j] += step;
    m[j] -= step;
    const auto gp = tape_gradient(e, p), gm = tape_gradient(e, m);
    for (std::size_t i = 0; i < n; ++i) h[i][j] = (gp[i] - gm[i]) / (p[j] - m[j]);
  }
  return h;
}

}  // namespace

TEST_CASE("hessian: every function of one argument, by hand and by differences of the gradient") {
  int rows = 0;
#define EACH(Rule, fn)                                                                              \
  {                                                                                                 \
    CAPTURE(std::string(#fn));                                                                      \
    const auto row = second.find(#fn);                                                              \
    REQUIRE_MESSAGE(row != second.end(), "no hand-derived second derivative for " #fn);            \
    const ad::Expression e(#fn "(x)");                                                              \
    for (double x : row->second.at) {                                                               \
      CAPTURE(x);                                                                                   \
      const double want = row->second.f2(x);                                                        \
      const std::vector<double> at = {x};                                                           \
      const auto so = e.hessian(at);                                                                \
      CHECK(close(so.hessian[0][0], want, 1e-10));                                                 \
      CHECK(close(so.value, e(at), 2e-15));                                                         \
      CHECK(close(so.gradient[0], tape_gradient(e, at)[0], 1e-15));                                 \
      CHECK(close(so.hessian[0][0], gradient_differences(e, at)[0][0], 1e-6));                      \
      const auto h = ad::hessian([](auto v) { return ad::fn(v[0]); }, at);                          \
      CHECK(close(h[0][0], so.hessian[0][0], 2e-15));                                               \
    }                                                                                               \
    ++rows;                                                                                         \
  }
  AD_UNARY_RULES(EACH)
#undef EACH
  CHECK(rows == static_cast<int>(second.size()));
}

TEST_CASE("hessian: functions of two arguments and operators, against differences of the gradient") {
  struct Case {
    const char* text;
    std::vector<double> at;
  };
  for (const Case& c : {Case{"x * y", {1.5, -2}}, Case{"x / y", {1.5, -2}}, Case{"pow(x, y)", {1.5, 2.5}},
                        Case{"x^3", {-1.5}}, Case{"atan2(x, y)", {0.5, -2}}, Case{"hypot(x, y)", {3, -4}},
                        Case{"max(x^2, y)", {1.5, 0.5}}, Case{"min(x^2, y)", {1.5, 0.5}},
                        Case{"sqrt(x^2 + exp(x^2))", {1.5}}, Case{"x*y*z + sin(x*z) - y^2/z", {0.3, -1.2, 2.5}}}) {
    CAPTURE(std::string(c.text));
    const ad::Expression e(c.text);
    const auto so = e.hessian(c.at);
    const auto fd = gradient_differences(e, c.at);
    for (std::size_t i = 0; i < c.at.size(); ++i)
      for (std::size_t j = 0; j < c.at.size(); ++j) {
        CHECK(so.hessian[i][j] == so.hessian[j][i]);  // symmetric
        CHECK(close(so.hessian[i][j], fd[i][j], 2e-6));
      }
  }
}

TEST_CASE("hessian: hand-derived matrices, generic C++ functions and the parser agree") {
  // f = x^2 y + sin(y): H = [[2y, 2x], [2x, -sin y]].
  auto f = [](auto v) { return v[0] * v[0] * v[1] + sin(v[1]); };
  const auto h = ad::hessian(f, std::vector<double>{0.5, -2.0});
  CHECK(h[0][0] == -4.0);
  CHECK(h[0][1] == 1.0);
  CHECK(h[1][0] == 1.0);
  CHECK(close(h[1][1], std::sin(2.0), 1e-15));
  const auto so = ad::Expression("x^2*y + sin(y)").hessian(std::vector<double>{0.5, -2.0});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 2; ++j) CHECK(close(so.hessian[i][j], h[i][j], 2e-15));
  CHECK(close(so.value, 0.25 * -2.0 + std::sin(-2.0), 2e-15));
  CHECK(so.gradient[0] == -2.0);

  // Rosenbrock, n = 4: H_ii = 1200 x_i^2 - 400 x_{i+1} + 2 (+ 200 for i > 0), H_i,i+1 = -400 x_i.
  const std::vector<double> x = {-1.2, 1.0, 0.7, -0.3};
  auto rosen = [](auto v) {
    auto s = 0 * v[0];
    for (std::size_t i = 0; i + 1 < v.size(); ++i)
      s = s + 100 * (v[i + 1] - v[i] * v[i]) * (v[i + 1] - v[i] * v[i]) + (1 - v[i]) * (1 - v[i]);
    return s;
  };
  const auto hr = ad::hessian(rosen, x);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) {
      double want = 0;
      if (i == j) want = (i + 1 < 4 ? 1200 * x[i] * x[i] - 400 * x[i + 1] + 2 : 0) + (i > 0 ? 200 : 0);
      if (j == i + 1) want = -400 * x[i];
      if (i == j + 1) want = -400 * x[j];
      CAPTURE(i);
      CAPTURE(j);
      CHECK(close(hr[i][j], want, 1e-13));
    }
  // The same code runs on plain doubles.
  CHECK(rosen(std::vector<double>{1, 1, 1, 1}) == 0.0);

  // Into caller storage, row-major, the same numbers; more variables than the on-stack seeds
  std::vector<double> out(16, -1.0);
  ad::hessian(rosen, std::span<const double>(x), std::span<double>(out));
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) CHECK(out[i * 4 + j] == hr[i][j]);
  std::vector<double> x12(12);
  for (std::size_t i = 0; i < 12; ++i) x12[i] = 0.1 * static_cast<double>(i) - 0.5;
  const auto h12 = ad::hessian(rosen, x12);
  CHECK(close(h12[11][11], 200.0, 1e-15));
  CHECK(close(h12[3][4], -400 * x12[3], 1e-15));
  CHECK(h12[0][5] == 0.0);
  std::vector<double> wrong(15);
  CHECK(support::message_of<ad::ShapeError>([&] {
          ad::hessian(rosen, std::span<const double>(x), std::span<double>(wrong));
        }) == "hessian: the output has 15 entries; 4 variables need 16");
}

TEST_CASE("hessian: kinks follow the first-order conventions; NaN propagates") {
  const auto at0 = std::vector<double>{0.0};
  CHECK(ad::Expression("relu(x)").hessian(at0).hessian[0][0] == 0.0);
  CHECK(ad::Expression("abs(x)").hessian(at0).hessian[0][0] == 0.0);
  CHECK(ad::Expression("relu(x)").hessian(at0).gradient[0] == 0.0);
  const auto n = ad::Expression("log(x)").hessian(std::vector<double>{std::nan("")});
  CHECK(std::isnan(n.value));
  CHECK(std::isnan(n.hessian[0][0]));
  const auto c = ad::Expression("pi * 2").hessian(std::vector<double>{});
  CHECK(c.value == 2 * std::numbers::pi);
  CHECK(c.hessian.empty());
}
