// Tests for <ad/scalar.hpp>: a table of every scalar function with its hand-derived derivative,
// checked at several points against the tape (1e-12 relative) and against central finite
// differences; the course example; several variables; the Jacobian; stale and mixed handles;
// conventions at kinks.
#include <ad/scalar.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using ad::Real;

bool close(double got, double want, double rel) {
  return support::rel_err(got, want, support::Rel::floor_one) <= rel;
}

// Central finite difference of a plain function (f evaluated on constant Reals).
double central_fd(const std::function<Real(Real)>& f, double x) {
  const double h = 1e-6 * std::max(1.0, std::fabs(x));
  return (f(Real(x + h)).value() - f(Real(x - h)).value()) / (2 * h);
}

// Each case's f is written once, generically, and run on Reals (the tape) and on ad::Dual
// numbers (forward mode), which share the op rules.
struct UnaryCase {
  template <class F>
  UnaryCase(const char* name_, F f_, std::function<double(double)> value_,
            std::function<double(double)> derivative_, std::vector<double> points_)
      : name(name_), f(f_), dual(f_), value(std::move(value_)), derivative(std::move(derivative_)),
        points(std::move(points_)) {}
  const char* name;
  std::function<Real(Real)> f;
  std::function<ad::Dual<1>(ad::Dual<1>)> dual;
  std::function<double(double)> value;       // f written with <cmath>
  std::function<double(double)> derivative;  // f' derived by hand
  std::vector<double> points;
};

const double pi = std::numbers::pi;

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](auto a) { return -a; }, [](double x) { return -x; }, [](double) { return -1.0; },
       {-2, 0.5, 3}},
      {"exp", [](auto a) { return exp(a); }, [](double x) { return std::exp(x); },
       [](double x) { return std::exp(x); }, {-3, -0.5, 0, 0.7, 4}},
      {"log", [](auto a) { return log(a); }, [](double x) { return std::log(x); },
       [](double x) { return 1 / x; }, {0.01, 0.5, 1, 7.5}},
      {"log1p", [](auto a) { return log1p(a); }, [](double x) { return std::log1p(x); },
       [](double x) { return 1 / (1 + x); }, {-0.9, -1e-8, 0, 0.3, 10}},
      {"expm1", [](auto a) { return expm1(a); }, [](double x) { return std::expm1(x); },
       [](double x) { return std::exp(x); }, {-2, -1e-8, 0, 0.3, 3}},
      {"sqrt", [](auto a) { return sqrt(a); }, [](double x) { return std::sqrt(x); },
       [](double x) { return 0.5 / std::sqrt(x); }, {0.01, 0.5, 2, 100}},
      {"cbrt", [](auto a) { return cbrt(a); }, [](double x) { return std::cbrt(x); },
       [](double x) { return 1.0 / (3.0 * std::pow(std::fabs(x), 2.0 / 3.0)); },
       {-8, -0.3, 0.2, 27}},
      {"sin", [](auto a) { return sin(a); }, [](double x) { return std::sin(x); },
       [](double x) { return std::cos(x); }, {-2, 0, 0.5, pi / 2, 4}},
      {"cos", [](auto a) { return cos(a); }, [](double x) { return std::cos(x); },
       [](double x) { return -std::sin(x); }, {-2, 0, 0.5, pi / 2, 4}},
      {"tan", [](auto a) { return tan(a); }, [](double x) { return std::tan(x); },
       [](double x) { return 1.0 / (std::cos(x) * std::cos(x)); }, {-1.2, 0, 0.5, 1.4}},
      {"asin", [](auto a) { return asin(a); }, [](double x) { return std::asin(x); },
       [](double x) { return 1.0 / std::sqrt(1 - x * x); }, {-0.9, 0, 0.3, 0.99}},
      {"acos", [](auto a) { return acos(a); }, [](double x) { return std::acos(x); },
       [](double x) { return -1.0 / std::sqrt(1 - x * x); }, {-0.9, 0, 0.3, 0.99}},
      {"atan", [](auto a) { return atan(a); }, [](double x) { return std::atan(x); },
       [](double x) { return 1.0 / (1 + x * x); }, {-5, 0, 0.3, 10}},
      {"sinh", [](auto a) { return sinh(a); }, [](double x) { return std::sinh(x); },
       [](double x) { return std::cosh(x); }, {-3, 0, 0.3, 2}},
      {"cosh", [](auto a) { return cosh(a); }, [](double x) { return std::cosh(x); },
       [](double x) { return std::sinh(x); }, {-3, 0, 0.3, 2}},
      {"tanh", [](auto a) { return tanh(a); }, [](double x) { return std::tanh(x); },
       [](double x) { return 1.0 / (std::cosh(x) * std::cosh(x)); }, {-3, 0, 0.3, 2}},
      {"asinh", [](auto a) { return asinh(a); }, [](double x) { return std::asinh(x); },
       [](double x) { return 1.0 / std::sqrt(x * x + 1); }, {-3, 0, 0.3, 20}},
      {"acosh", [](auto a) { return acosh(a); }, [](double x) { return std::acosh(x); },
       [](double x) { return 1.0 / std::sqrt(x * x - 1); }, {1.01, 1.5, 3, 50}},
      {"atanh", [](auto a) { return atanh(a); }, [](double x) { return std::atanh(x); },
       [](double x) { return 1.0 / (1 - x * x); }, {-0.9, 0, 0.3, 0.99}},
      {"sigmoid", [](auto a) { return sigmoid(a); },
       [](double x) { return 1.0 / (1.0 + std::exp(-x)); },
       [](double x) { return std::exp(-x) / ((1 + std::exp(-x)) * (1 + std::exp(-x))); },
       {-30, -2, 0, 0.5, 3, 30}},
      {"softplus", [](auto a) { return softplus(a); },
       [](double x) { return std::log1p(std::exp(x)); },
       [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, {-30, -2, 0, 0.5, 3, 30}},
      {"abs", [](auto a) { return abs(a); }, [](double x) { return std::fabs(x); },
       [](double x) { return x > 0 ? 1.0 : -1.0; }, {-2, -0.1, 0.1, 3}},
      {"relu", [](auto a) { return relu(a); }, [](double x) { return x > 0 ? x : 0.0; },
       [](double x) { return x > 0 ? 1.0 : 0.0; }, {-2, -0.1, 0.1, 3}},
      {"erf", [](auto a) { return erf(a); }, [](double x) { return std::erf(x); },
       [](double x) { return 2.0 / std::sqrt(pi) * std::exp(-x * x); }, {-2, 0, 0.5, 1.5}},
      {"x^3 (pow, number exponent)", [](auto a) { return pow(a, 3.0); },
       [](double x) { return x * x * x; }, [](double x) { return 3 * x * x; }, {-2, 0.5, 3}},
      {"x^-0.5", [](auto a) { return pow(a, -0.5); }, [](double x) { return 1 / std::sqrt(x); },
       [](double x) { return -0.5 * std::pow(x, -1.5); }, {0.2, 1, 4}},
      {"2^x (pow, number base)", [](auto a) { return pow(2.0, a); },
       [](double x) { return std::pow(2.0, x); },
       [](double x) { return std::pow(2.0, x) * std::log(2.0); }, {-2, 0, 0.5, 3}},
      {"x^x (pow, both)", [](auto a) { return pow(a, a); }, [](double x) { return std::pow(x, x); },
       [](double x) { return std::pow(x, x) * (std::log(x) + 1); }, {0.3, 1, 2.5}},
      {"3 - x", [](auto a) { return 3.0 - a; }, [](double x) { return 3 - x; },
       [](double) { return -1.0; }, {-1, 2}},
      {"x - 3", [](auto a) { return a - 3.0; }, [](double x) { return x - 3; },
       [](double) { return 1.0; }, {-1, 2}},
      {"2 / x", [](auto a) { return 2.0 / a; }, [](double x) { return 2 / x; },
       [](double x) { return -2 / (x * x); }, {-3, 0.5, 2}},
      {"x / 4", [](auto a) { return a / 4.0; }, [](double x) { return x / 4; },
       [](double) { return 0.25; }, {-3, 2}},
      {"x * x", [](auto a) { return a * a; }, [](double x) { return x * x; },
       [](double x) { return 2 * x; }, {-3, 0, 2}},
      {"x / x^2", [](auto a) { return a / (a * a); }, [](double x) { return 1 / x; },
       [](double x) { return -1 / (x * x); }, {-3, 0.5, 2}},
      {"1 + x + 5 * x", [](auto a) { return 1.0 + a + 5.0 * a; },
       [](double x) { return 1 + 6 * x; }, [](double) { return 6.0; }, {-3, 2}},
  };
}

struct BinaryCase {
  template <class F>
  BinaryCase(const char* name_, F f_, std::function<double(double, double)> value_,
             std::function<double(double, double)> da_, std::function<double(double, double)> db_,
             std::vector<std::pair<double, double>> points_)
      : name(name_), f(f_), dual(f_), value(std::move(value_)), da(std::move(da_)),
        db(std::move(db_)), points(std::move(points_)) {}
  const char* name;
  std::function<Real(Real, Real)> f;
  std::function<ad::Dual<2>(ad::Dual<2>, ad::Dual<2>)> dual;
  std::function<double(double, double)> value;
  std::function<double(double, double)> da, db;
  std::vector<std::pair<double, double>> points;
};

std::vector<BinaryCase> binary_cases() {
  return {
      {"a + b", [](auto a, auto b) { return a + b; }, [](double a, double b) { return a + b; },
       [](double, double) { return 1.0; }, [](double, double) { return 1.0; }, {{1, 2}, {-3, 0.5}}},
      {"a - b", [](auto a, auto b) { return a - b; }, [](double a, double b) { return a - b; },
       [](double, double) { return 1.0; }, [](double, double) { return -1.0; }, {{1, 2}, {-3, 0.5}}},
      {"a * b", [](auto a, auto b) { return a * b; }, [](double a, double b) { return a * b; },
       [](double, double b) { return b; }, [](double a, double) { return a; }, {{1, 2}, {-3, 0.5}}},
      {"a / b", [](auto a, auto b) { return a / b; }, [](double a, double b) { return a / b; },
       [](double, double b) { return 1 / b; }, [](double a, double b) { return -a / (b * b); },
       {{1, 2}, {-3, 0.5}}},
      {"pow", [](auto a, auto b) { return pow(a, b); },
       [](double a, double b) { return std::pow(a, b); },
       [](double a, double b) { return b * std::pow(a, b - 1); },
       [](double a, double b) { return std::pow(a, b) * std::log(a); }, {{1.5, 2}, {0.3, -1.2}, {4, 0.5}}},
      {"atan2", [](auto a, auto b) { return atan2(a, b); },
       [](double a, double b) { return std::atan2(a, b); },
       [](double a, double b) { return b / (a * a + b * b); },
       [](double a, double b) { return -a / (a * a + b * b); }, {{1, 2}, {-3, 0.5}, {0.5, -2}}},
      {"hypot", [](auto a, auto b) { return hypot(a, b); },
       [](double a, double b) { return std::sqrt(a * a + b * b); },
       [](double a, double b) { return a / std::sqrt(a * a + b * b); },
       [](double a, double b) { return b / std::sqrt(a * a + b * b); }, {{3, 4}, {-1, 0.5}}},
      {"min", [](auto a, auto b) { return min(a, b); },
       [](double a, double b) { return a < b ? a : b; },
       [](double a, double b) { return a < b ? 1.0 : 0.0; },
       [](double a, double b) { return a < b ? 0.0 : 1.0; }, {{1, 2}, {3, -0.5}}},
      {"max", [](auto a, auto b) { return max(a, b); },
       [](double a, double b) { return a > b ? a : b; },
       [](double a, double b) { return a > b ? 1.0 : 0.0; },
       [](double a, double b) { return a > b ? 0.0 : 1.0; }, {{1, 2}, {3, -0.5}}},
      {"a * sin(b) + exp(a * b)", [](auto a, auto b) { return a * sin(b) + exp(a * b); },
       [](double a, double b) { return a * std::sin(b) + std::exp(a * b); },
       [](double a, double b) { return std::sin(b) + b * std::exp(a * b); },
       [](double a, double b) { return a * std::cos(b) + a * std::exp(a * b); }, {{0.3, 1.1}, {-1, 2}}},
  };
}

}  // namespace

TEST_CASE("every unary function: value, analytic derivative (1e-12) and finite differences") {
  ad::ScalarTape tape;
  for (const auto& c : unary_cases()) {
    for (double x0 : c.points) {
      CAPTURE(c.name);
      CAPTURE(x0);
      tape.clear();
      Real x = tape.variable(x0);
      Real y = c.f(x);
      CHECK(close(y.value(), c.value(x0), 1e-14));
      const double d = ad::derivative(y, x);
      CHECK(close(d, c.derivative(x0), 1e-12));
      CHECK(close(d, central_fd(c.f, x0), 1e-6));
      // forward mode: the same value and derivative from one ad::Dual pass
      const ad::Dual<1> yd = c.dual(ad::Dual<1>(x0, 0));
      CHECK(close(yd.value(), c.value(x0), 1e-14));
      CHECK(close(yd.partial(0), c.derivative(x0), 1e-12));
    }
  }
}

TEST_CASE("every binary function: both partials, analytic (1e-12) and finite differences") {
  ad::ScalarTape tape;
  for (const auto& c : binary_cases()) {
    for (const auto& point : c.points) {
      // Plain locals, not a structured binding: CAPTURE's lambda captures them, which clang 14
      // does not allow for structured bindings (a C++20 addition it lacks).
      const double a0 = point.first, b0 = point.second;
      CAPTURE(c.name);
      CAPTURE(a0);
      CAPTURE(b0);
      tape.clear();
      Real a = tape.variable(a0), b = tape.variable(b0);
      Real y = c.f(a, b);
      CHECK(close(y.value(), c.value(a0, b0), 1e-14));
      auto [da, db] = ad::derivatives(y, ad::wrt(a, b));
      CHECK(close(da, c.da(a0, b0), 1e-12));
      CHECK(close(db, c.db(a0, b0), 1e-12));
      const double h = 1e-6;
      const double fa = (c.f(Real(a0 + h), Real(b0)).value() - c.f(Real(a0 - h), Real(b0)).value()) / (2 * h);
      const double fb = (c.f(Real(a0), Real(b0 + h)).value() - c.f(Real(a0), Real(b0 - h)).value()) / (2 * h);
      CHECK(close(da, fa, 1e-6));
      CHECK(close(db, fb, 1e-6));
      // Either operand may be a plain number: only the other one is recorded.
      tape.clear();
      Real a2 = tape.variable(a0);
      CHECK(close(ad::derivative(c.f(a2, Real(b0)), a2), c.da(a0, b0), 1e-12));
      tape.clear();
      Real b2 = tape.variable(b0);
      CHECK(close(ad::derivative(c.f(Real(a0), b2), b2), c.db(a0, b0), 1e-12));
      // forward mode, both seeded, then each side alone next to a constant
      const ad::Dual<2> yd = c.dual(ad::Dual<2>(a0, 0), ad::Dual<2>(b0, 1));
      CHECK(close(yd.value(), c.value(a0, b0), 1e-14));
      CHECK(close(yd.partial(0), c.da(a0, b0), 1e-12));
      CHECK(close(yd.partial(1), c.db(a0, b0), 1e-12));
      CHECK(close(c.dual(ad::Dual<2>(a0, 0), ad::Dual<2>(b0)).partial(0), c.da(a0, b0), 1e-12));
      CHECK(c.dual(ad::Dual<2>(a0, 0), ad::Dual<2>(b0)).partial(1) == 0.0);
      CHECK(close(c.dual(ad::Dual<2>(a0), ad::Dual<2>(b0, 1)).partial(1), c.db(a0, b0), 1e-12));
    }
  }
}

TEST_CASE("the course example sqrt(x^2 + exp(x^2)) at 0.5, 1, 1.5, -2") {
  for (double x0 : {0.5, 1.0, 1.5, -2.0}) {
    ad::ScalarTape tape;
    Real x = tape.variable(x0);
    auto f = sqrt(x * x + exp(x * x));
    const double want = x0 * (1 + std::exp(x0 * x0)) / std::sqrt(x0 * x0 + std::exp(x0 * x0));
    CHECK(close(f.value(), std::sqrt(x0 * x0 + std::exp(x0 * x0)), 1e-15));
    CHECK(close(ad::derivative(f, x), want, 1e-12));
  }
}

TEST_CASE("intermediates carry adjoints: a = x^2, b = exp(a), c = a + b, d = sqrt(c)") {
  ad::ScalarTape tape;
  Real x = tape.variable(1.5);
  Real a = x * x, b = exp(a), c = a + b, d = sqrt(c);
  ad::backward(d);
  const double bv = std::exp(2.25), dv = std::sqrt(2.25 + bv);
  CHECK(close(d.adjoint(), 1.0, 1e-15));
  CHECK(close(c.adjoint(), 1 / (2 * dv), 1e-14));
  CHECK(close(b.adjoint(), 1 / (2 * dv), 1e-14));
  CHECK(close(a.adjoint(), (1 + bv) / (2 * dv), 1e-14));
  CHECK(close(x.adjoint(), 1.5 * (1 + bv) / dv, 1e-14));
}

TEST_CASE("several variables: derivatives, gradient, accumulation of repeated use") {
  ad::ScalarTape tape;
  Real x = tape.variable(2.0), y = tape.variable(-1.0), z = tape.variable(0.5);
  Real u = x * y + sin(x) * z + x;  // x used three times
  auto [dx, dy, dz] = ad::derivatives(u, ad::wrt(x, y, z));
  CHECK(close(dx, -1.0 + std::cos(2.0) * 0.5 + 1.0, 1e-14));
  CHECK(close(dy, 2.0, 1e-14));
  CHECK(close(dz, std::sin(2.0), 1e-14));
  const std::vector<double> g = ad::gradient(u);  // all variables, in creation order
  REQUIRE(g.size() == 3);
  CHECK(g[0] == dx);
  CHECK(g[2] == dz);
  std::vector<Real> xs{z, x};
  const std::vector<double> g2 = ad::gradient(u, xs);
  CHECK(g2[0] == dz);
  CHECK(g2[1] == dx);
  // Constants: derivative 0; a variable unused by u: 0.
  Real w = tape.variable(3.0);
  ad::backward(u);
  CHECK(w.adjoint() == 0.0);
  CHECK(Real(4.0).adjoint() == 0.0);
}

TEST_CASE("compound assignment and accumulating a sum from a constant start") {
  ad::ScalarTape tape;
  std::vector<Real> xs;
  for (int i = 0; i < 5; ++i) xs.push_back(tape.variable(0.5 * i));
  Real s = 0.0;
  for (const Real& x : xs) s += x * x;
  s *= 3.0;
  s -= xs[1];
  s /= 2.0;
  const auto g = ad::gradient(s);
  for (int i = 0; i < 5; ++i) CHECK(close(g[i], (6 * 0.5 * i - (i == 1 ? 1 : 0)) / 2, 1e-14));
}

TEST_CASE("Jacobian: one sweep per output") {
  ad::ScalarTape tape;
  Real r = tape.variable(2.0), t = tape.variable(0.3);
  std::vector<Real> ys{r * cos(t), r * sin(t), Real(7.0)};
  std::vector<Real> xs{r, t};
  const auto J = ad::jacobian(ys, xs);
  REQUIRE(J.size() == 3);
  CHECK(close(J[0][0], std::cos(0.3), 1e-15));
  CHECK(close(J[0][1], -2 * std::sin(0.3), 1e-15));
  CHECK(close(J[1][0], std::sin(0.3), 1e-15));
  CHECK(close(J[1][1], 2 * std::cos(0.3), 1e-15));
  CHECK(J[2][0] == 0.0);
  CHECK(J[2][1] == 0.0);
  // The first output, swept after the second was recorded, ignores it.
  CHECK(close(ad::derivative(ys[0], t), -2 * std::sin(0.3), 1e-15));
}

TEST_CASE("kink conventions") {
  ad::ScalarTape tape;
  Real z = tape.variable(0.0);
  CHECK(ad::derivative(abs(z), z) == 0.0);
  CHECK(ad::derivative(relu(z), z) == 0.0);
  Real a = tape.variable(1.0), b = tape.variable(1.0);
  auto [dmin_a, dmin_b] = ad::derivatives(min(a, b), ad::wrt(a, b));
  CHECK(dmin_a == 0.5);  // ties: half to each argument (as torch.minimum and jax)
  CHECK(dmin_b == 0.5);
  auto [dmax_a, dmax_b] = ad::derivatives(max(b, a), ad::wrt(a, b));
  CHECK(dmax_a == 0.5);
  CHECK(dmax_b == 0.5);
  Real c = tape.variable(2.0);
  auto [dmax_c, dmax_a2] = ad::derivatives(max(c, a), ad::wrt(c, a));
  CHECK(dmax_c == 1.0);
  CHECK(dmax_a2 == 0.0);
  Real p = tape.variable(0.0), q = tape.variable(0.0);
  auto [dh_p, dh_q] = ad::derivatives(hypot(p, q), ad::wrt(p, q));
  CHECK(dh_p == 0.0);
  CHECK(dh_q == 0.0);
  // 0^b: d/db is 0 (the limit), d/da of a^2 at 0 is 0
  Real e = tape.variable(2.0);
  auto [d0a, d0b] = ad::derivatives(pow(p, e), ad::wrt(p, e));
  CHECK(d0a == 0.0);
  CHECK(d0b == 0.0);
}

TEST_CASE("stable sigmoid and softplus at extremes") {
  ad::ScalarTape tape;
  Real big = tape.variable(800.0), small = tape.variable(-800.0);
  CHECK(sigmoid(big).value() == 1.0);
  CHECK(sigmoid(small).value() >= 0.0);
  CHECK(std::isfinite(ad::derivative(sigmoid(small), small)));
  CHECK(softplus(big).value() == 800.0);
  CHECK(ad::derivative(softplus(big), big) == 1.0);
  CHECK(softplus(small).value() >= 0.0);
  CHECK(ad::derivative(softplus(small), small) >= 0.0);
}

TEST_CASE("domain errors give nan, never throw") {
  ad::ScalarTape tape;
  Real m = tape.variable(-1.0);
  CHECK(std::isnan(log(m).value()));
  CHECK(std::isnan(sqrt(m).value()));
  CHECK(std::isnan(asin(m * 2.0).value()));
  CHECK(std::isnan(min(log(m), m).value()));
  ad::ScalarTape kept;
  kept.keep_values(true);
  Real n = kept.variable(-2.0);
  Real ok = exp(n);
  Real bad = log(n) + ok;
  CHECK(kept.first_nonfinite() == static_cast<std::size_t>(bad.id()) - 1);
  CHECK(std::string(kept.op_name(bad.id() - 1)) == "log");
}

TEST_CASE("no nonfinite node reported when all are finite") {
  ad::ScalarTape tape;
  tape.keep_values(true);
  Real bad = exp(tape.variable(1.0));
  CHECK(tape.first_nonfinite() == tape.size());
  CHECK(std::string(tape.op_name(bad.id())) == "exp");
}

TEST_CASE("comparisons use values") {
  ad::ScalarTape tape;
  Real x = tape.variable(1.0), y = tape.variable(2.0);
  CHECK(x < y);
  CHECK(x <= 1.0);
  CHECK(2.0 == y);
  CHECK(x != y);
  CHECK(y > 1.5);
  CHECK(0.0 < x);
}

TEST_CASE("stale handles and mixed tapes throw TapeError") {
  ad::ScalarTape tape;
  Real x = tape.variable(1.0);
  Real y = exp(x);
  tape.clear();
  // An expression of a stale Real is refused when it is recorded (it records nothing before).
  CHECK_THROWS_AS(Real(exp(x)), ad::TapeError);
  CHECK_THROWS_AS(Real(x + 1.0), ad::TapeError);
  CHECK_THROWS_AS(ad::derivative(x * x, x), ad::TapeError);
  CHECK_THROWS_AS(ad::backward(y), ad::TapeError);
  CHECK_THROWS_AS((void)x.adjoint(), ad::TapeError);
  Real fresh = tape.variable(2.0);
  CHECK_THROWS_AS(fresh * x, ad::TapeError);
  CHECK(ad::derivative(fresh * fresh, fresh) == 4.0);  // the tape itself is fine

  ad::ScalarTape other;
  Real o = other.variable(3.0);
  CHECK_THROWS_AS(fresh + o, ad::TapeError);
  CHECK_THROWS_AS(ad::backward(Real(1.0)), ad::TapeError);
  // The messages name the op where the stale handle was found.
  auto message_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const ad::TapeError& e) {
      return e.what();
    }
    return "(no exception)";
  };
  CHECK(message_of([&] { Real r = exp(x); (void)r; }).find("exp: a Real from an earlier recording") == 0);
  CHECK(message_of([&] { (void)(fresh * x); }).find("mul: a Real from an earlier recording") == 0);
  CHECK(message_of([&] { (void)(fresh + o); }).find("add: the two operands were recorded on "
                                                    "different scalar tapes") == 0);
}

TEST_CASE("clear keeps capacity; printouts show every node") {
  ad::ScalarTape tape;
  tape.keep_values(true);
  Real x = tape.variable(1.5, "x");
  auto f = sqrt(x * x + exp(x * x));
  ad::backward(f);
  CHECK(tape.size() == 6);
  const std::string p = tape.print();
  for (const char* op : {"var x", "mul", "exp", "add", "sqrt"}) CHECK(p.find(op) != std::string::npos);
  const std::string d = tape.dot();
  CHECK(d.find("digraph") != std::string::npos);
  CHECK(d.find("n4 -> n5") != std::string::npos);
  const std::size_t cap = tape.capacity_bytes();
  tape.clear();
  CHECK(tape.size() == 0);
  CHECK(tape.capacity_bytes() == cap);
  // Growth across many nodes.
  Real s = 0.0;
  Real v = tape.variable(0.5);
  for (int i = 0; i < 100000; ++i) s += v * static_cast<double>(i % 3);
  CHECK(ad::derivative(s, v) == 99999.0);
}

TEST_CASE("the thread's default tape and separate tapes on separate threads") {
  ad::new_recording();
  Real x = ad::variable(3.0);
  CHECK(ad::derivative(x * x, x) == 6.0);
  ad::new_recording();

  std::vector<double> results(2);
  auto work = [&](int k) {
    ad::ScalarTape tape;
    double acc = 0;
    for (int i = 0; i < 2000; ++i) {
      tape.clear();
      Real t = tape.variable(0.001 * i + k);
      acc += ad::derivative(sin(t) * t, t);
    }
    results[k] = acc;
  };
  std::thread a(work, 0), b(work, 1);
  a.join();
  b.join();
  for (int k = 0; k < 2; ++k) {
    double want = 0;
    for (int i = 0; i < 2000; ++i) {
      const double t = 0.001 * i + k;
      want += std::cos(t) * t + std::sin(t);
    }
    CHECK(close(results[k], want, 1e-12));
  }
}

// ---- statements: one record per expression stored into a Real ----

namespace {
template <std::size_t... I>
auto long_sum(const Real& x, std::index_sequence<I...>) {
  return ((x * static_cast<double>(I + 1)) + ...);  // 100 leaf occurrences in one expression
}
}  // namespace

TEST_CASE("an expression stored into a Real is one record with one pair per distinct leaf") {
  ad::ScalarTape tape;
  Real x = tape.variable(1.5);
  Real f = sqrt(x * x + exp(x * x));
  CHECK(tape.size() == 2);            // the variable and one statement
  CHECK(tape.input_count() == 1);     // x's four occurrences merged into one (id, partial)
  CHECK(tape.elementary_ops() == 6);  // the variable and five ops
  CHECK(std::string(tape.op_name(1)) == "sqrt");
  const double want = 1.5 * (1 + std::exp(2.25)) / std::sqrt(2.25 + std::exp(2.25));
  CHECK(close(ad::derivative(f, x), want, 1e-14));
  // s += e is one record too, whatever e is.
  Real y = tape.variable(-0.5);
  Real s = 0.0;
  s += 100 * pow(y - x * x, 2) + pow(1 - x, 2);
  CHECK(tape.size() == 4);
  auto [dx, dy] = ad::derivatives(s, ad::wrt(x, y));
  CHECK(close(dx, -400 * 1.5 * (-0.5 - 2.25) - 2 * (1 - 1.5), 1e-13));
  CHECK(close(dy, 200 * (-0.5 - 2.25), 1e-13));
  // Repeats that are not next to each other are separate pairs; the sweep adds them.
  Real u = x * y + x;
  CHECK(close(ad::derivative(u, x), -0.5 + 1, 1e-15));
}

TEST_CASE("expressions hold copies: auto is safe after the operands are gone") {
  ad::ScalarTape tape;
  Real x = tape.variable(2.0);
  auto make = [&] {
    Real local = x * 3.0;  // a node of its own
    return exp(local) + local * local;  // refers to `local`, which dies here
  };
  auto e = make();
  CHECK(close(e.value(), std::exp(6.0) + 36.0, 1e-15));
  Real f = e;
  CHECK(close(ad::derivative(f, x), 3 * std::exp(6.0) + 2 * 6.0 * 3, 1e-13));
  // The same expression can be recorded again; each conversion is a new record.
  Real g = e;
  CHECK(g.id() != f.id());
  CHECK(close(ad::derivative(g, x), ad::derivative(f, x), 1e-15));
}

TEST_CASE("an expression built before a clear throws when recorded after it") {
  ad::ScalarTape tape;
  Real x = tape.variable(1.0);
  auto e = exp(x) * 2.0;
  tape.clear();
  CHECK_THROWS_AS((void)Real(e), ad::TapeError);
  bool thrown = false;
  try {
    Real r = e;
    (void)r;
  } catch (const ad::TapeError& err) {
    thrown = true;
    CHECK(std::string(err.what()).find("mul") != std::string::npos);
  }
  CHECK(thrown);
}

TEST_CASE("a zero multiplier inside a statement does not reach an infinite partial") {
  ad::ScalarTape tape;
  Real a = tape.variable(-1.0), b = tape.variable(0.0);
  // min picks a, so sqrt(b) (partial +inf at 0) gets multiplier 0: db = 0, not nan.
  auto [da, db] = ad::derivatives(min(a, sqrt(b)), ad::wrt(a, b));
  CHECK(da == 1.0);
  CHECK(db == 0.0);
  CHECK(ad::derivative(0.0 * log(b) + a, b) == 0.0);
}

TEST_CASE("statements and one-node-per-op (keep_values) give the same derivatives") {
  for (bool keep : {false, true}) {
    CAPTURE(keep);
    ad::ScalarTape tape;
    tape.keep_values(keep);
    Real x = tape.variable(0.7), y = tape.variable(-1.3);
    Real f = atan2(y, x) * sigmoid(x * y) + hypot(x, y) / (1.0 + pow(x, y * y)) -
             softplus(tanh(y) - cbrt(x)) + erf(x) * max(x, y) + abs(y) * relu(x);
    auto [dx, dy] = ad::derivatives(f, ad::wrt(x, y));
    CHECK(tape.size() == (keep ? 2u + 23u : 3u));
    const double h = 1e-6;
    auto fv = [](double a, double b) {
      return (atan2(Real(b), Real(a)) * sigmoid(Real(a) * b) +
              hypot(Real(a), Real(b)) / (1.0 + pow(Real(a), Real(b) * b)) -
              softplus(tanh(Real(b)) - cbrt(Real(a))) + erf(Real(a)) * max(Real(a), Real(b)) +
              abs(Real(b)) * relu(Real(a)))
          .value();
    };
    CHECK(close(dx, (fv(0.7 + h, -1.3) - fv(0.7 - h, -1.3)) / (2 * h), 1e-7));
    CHECK(close(dy, (fv(0.7, -1.3 + h) - fv(0.7, -1.3 - h)) / (2 * h), 1e-7));
  }
}

TEST_CASE("an expression with more leaves than one record holds is split, same derivative") {
  ad::ScalarTape tape;
  Real x = tape.variable(0.5);
  Real s = long_sum(x, std::make_index_sequence<100>{});
  CHECK(tape.size() > 2);  // split into several records
  CHECK(close(s.value(), 0.5 * 5050, 1e-15));
  CHECK(ad::derivative(s, x) == 5050.0);
}

TEST_CASE("the sweep visits statements only: variables between statements, reuse, early outputs") {
  ad::ScalarTape tape;
  const double v0 = 0.7, v2 = -1.3, v4 = 2.1;
  Real x0 = tape.variable(v0);
  Real s1 = x0 * x0;
  Real x2 = tape.variable(v2);
  Real s3 = s1 * x2 + sin(x0);
  Real x4 = tape.variable(v4);
  Real s5 = s3 * s1 + x4 * s3;  // s3 (s1 + x4): s1 is used again three statements later
  const double S1 = v0 * v0, S3 = S1 * v2 + std::sin(v0);
  ad::backward(s5);
  CHECK(close(s5.adjoint(), 1.0, 0));
  CHECK(close(s3.adjoint(), S1 + v4, 1e-15));
  CHECK(close(s1.adjoint(), (S1 + v4) * v2 + S3, 1e-15));
  CHECK(close(x0.adjoint(), (S1 + v4) * (2 * v0 * v2 + std::cos(v0)) + S3 * 2 * v0, 1e-14));
  CHECK(close(x2.adjoint(), (S1 + v4) * S1, 1e-15));
  CHECK(close(x4.adjoint(), S3, 1e-15));
  // An earlier output: what was recorded after it reads 0.
  ad::backward(s3);
  CHECK(close(x0.adjoint(), 2 * v0 * v2 + std::cos(v0), 1e-15));
  CHECK(close(x2.adjoint(), S1, 1e-15));
  CHECK(x4.adjoint() == 0.0);
  CHECK(s5.adjoint() == 0.0);
  // A variable as the output: d x / d x = 1, everything else 0.
  ad::backward(x2);
  CHECK(x2.adjoint() == 1.0);
  CHECK(x0.adjoint() == 0.0);
  CHECK(s1.adjoint() == 0.0);
}

TEST_CASE("sqrt's partial at the edges of its fast form, and a root partial applied last") {
  ad::ScalarTape tape;
  // y (0.5 / a) inside [2^-1020, 2^1020], 0.5 / y outside: both agree with 0.5 / sqrt(a).
  for (double a : {1e-300, 0.3, 2.0, 1e300, 1e-310, 1e308}) {
    CAPTURE(a);
    Real x = tape.variable(a);
    CHECK(close(ad::derivative(sqrt(x), x), 0.5 / std::sqrt(a), 4e-16));
    CHECK(close(ad::derivative(sqrt(x * 1.0), x), 0.5 / std::sqrt(a), 4e-16));
  }
  Real z = tape.variable(0.0);
  CHECK(ad::derivative(sqrt(z), z) == std::numeric_limits<double>::infinity());
  Real big = tape.variable(std::numeric_limits<double>::infinity());
  CHECK(ad::derivative(sqrt(big), big) == 0.0);
  // The root's partial multiplies the pairs at the end; a zero root partial leaves no pair, so
  // an infinite partial below it (sqrt at 0) does not turn the derivative into nan.
  CHECK(ad::derivative(abs(sqrt(z) * 1.0), z) == 0.0);
  CHECK(ad::derivative(relu(sqrt(z) - 1.0), z) == 0.0);
  Real w = tape.variable(0.8);
  CHECK(close(ad::derivative(exp(w * w + sin(w)), w),
              std::exp(0.64 + std::sin(0.8)) * (1.6 + std::cos(0.8)), 1e-15));
}

TEST_CASE("the rare recording paths (growth, teaching mode) give the fast path's results") {
  // Expressions reach them through a copy of their leaves and are rebuilt there; they must
  // record what the fast path records, for small and large expressions alike.
  auto small = [](const Real& x, const Real& c) { return softplus(x * c - 0.5) + x; };
  auto large = [](const Real& x, const Real& y) {
    return 100 * pow(y - x * x, 2) + pow(1 - x, 2) + sin(x * y) * 0.5 + y / 3.0;
  };
  static_assert(decltype(small(Real(), Real()))::positions == 4);
  static_assert(decltype(large(Real(), Real()))::positions == 13);
  auto run = [&](bool keep, int n) {
    ad::ScalarTape tape;
    tape.keep_values(keep);
    const Real c = 1.5;  // a constant Real among the leaves
    Real s = 0.0;
    std::vector<Real> xs;
    for (int i = 0; i < n; ++i) {  // n statements: the tape grows many times
      Real x = tape.variable(0.01 * i - 0.3), y = tape.variable(0.02 * i + 0.1);
      xs.push_back(x);
      Real a = small(x, c);
      Real b = large(x, y);
      s += a * b;
    }
    ad::backward(s);
    std::vector<double> g;
    for (const Real& x : xs) g.push_back(x.adjoint());
    return std::make_pair(s.value(), g);
  };
  const auto [v_fast, g_fast] = run(false, 300);
  const auto [v_teach, g_teach] = run(true, 300);
  CHECK(v_fast == v_teach);
  REQUIRE(g_fast.size() == g_teach.size());
  for (std::size_t i = 0; i < g_fast.size(); ++i) CHECK(close(g_fast[i], g_teach[i], 1e-13));
  // And against finite differences for one of them.
  const double x0 = 0.7, y0 = -0.4, h = 1e-6;
  auto f = [&](double x, double y) {
    const double sp = std::log1p(std::exp(x * 1.5 - 0.5)) + x;
    const double lg = 100 * (y - x * x) * (y - x * x) + (1 - x) * (1 - x) +
                      std::sin(x * y) * 0.5 + y / 3.0;
    return sp * lg;
  };
  ad::ScalarTape tape;
  Real x = tape.variable(x0), y = tape.variable(y0);
  auto [dx, dy] = ad::derivatives(small(x, Real(1.5)) * large(x, y), ad::wrt(x, y));
  CHECK(close(dx, (f(x0 + h, y0) - f(x0 - h, y0)) / (2 * h), 1e-7));
  CHECK(close(dy, (f(x0, y0 + h) - f(x0, y0 - h)) / (2 * h), 1e-7));
}

TEST_CASE("ad::Sum: the f += term loop as few statements, same value, same gradient") {
  const std::size_t n = 1000;  // 1998 pairs: 8 statements of up to 255 pairs
  auto terms = [](auto& acc, const std::vector<Real>& x) {
    for (std::size_t i = 0; i + 1 < x.size(); ++i)
      acc += 100 * pow(x[i + 1] - x[i] * x[i], 2) + pow(1 - x[i], 2);
  };
  ad::ScalarTape chain_tape, sum_tape;
  std::vector<Real> xc, xs;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = (i % 2 == 0 ? -1.2 : 1.0) + 1e-3 * static_cast<double>(i % 7);
    xc.push_back(chain_tape.variable(v));
    xs.push_back(sum_tape.variable(v));
  }
  Real f = 0.0;
  terms(f, xc);
  ad::Sum s(sum_tape);
  terms(s, xs);
  CHECK(s.pairs() == 2 * (n - 1));  // x[i] merged within a term: 2 pairs per term
  Real g = s;
  CHECK(g.value() == f.value());  // the same additions in the same order
  CHECK(sum_tape.size() == n + 8);
  CHECK(sum_tape.size() < chain_tape.size());
  CHECK(sum_tape.recorded_bytes() < chain_tape.recorded_bytes());
  CHECK(sum_tape.elementary_ops() == chain_tape.elementary_ops());
  const auto gc = ad::gradient(f), gs = ad::gradient(g);
  REQUIRE(gc.size() == gs.size());
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(gc[i] - gs[i]));
  CHECK(worst < 1e-12);
  // The hand-written gradient.
  for (std::size_t i = 0; i < n; ++i) {
    const double xi = xs[i].value();
    double want = 0;
    if (i + 1 < n) want += -400 * xi * (xs[i + 1].value() - xi * xi) - 2 * (1 - xi);
    if (i > 0) want += 200 * (xi - xs[i - 1].value() * xs[i - 1].value());
    CHECK(close(gs[i], want, 1e-13));
  }
}

TEST_CASE("ad::Sum: minus, constants, nesting in any order, teaching mode") {
  ad::ScalarTape tape;
  Real x = tape.variable(0.5), y = tape.variable(-2.0);
  {
    ad::Sum s(tape);
    s += x * x;
    s -= 3.0 * y;
    s += 1.5;
    s -= exp(x);
    CHECK(s.value() == 0.25 + 6.0 + 1.5 - std::exp(0.5));
    auto [dx, dy] = ad::derivatives(Real(s), ad::wrt(x, y));
    CHECK(close(dx, 1.0 - std::exp(0.5), 1e-15));
    CHECK(dy == -3.0);
  }
  {  // a sum of sums, and Sums destroyed out of order
    auto outer = std::make_unique<ad::Sum>(tape);
    auto inner1 = std::make_unique<ad::Sum>(tape);
    auto inner2 = std::make_unique<ad::Sum>(tape);
    for (int j = 1; j <= 3; ++j) *inner1 += j * x;  // 6x
    for (int j = 1; j <= 2; ++j) *inner2 += j * y;  // 3y
    *outer += Real(*inner1) * Real(*inner2);        // 18 x y
    inner1.reset();  // not the last one opened
    ad::Sum inner3(tape);  // reuses inner1's scratch
    inner3 += y * y;
    *outer += Real(inner3);
    Real o = *outer;
    CHECK(close(o.value(), 18 * 0.5 * -2.0 + 4.0, 1e-15));
    auto [dx, dy] = ad::derivatives(o, ad::wrt(x, y));
    CHECK(close(dx, 18 * -2.0, 1e-14));
    CHECK(close(dy, 18 * 0.5 + 2 * -2.0, 1e-14));
  }
  {  // only constants: a constant Real
    ad::Sum s(tape);
    s += 2.0;
    s += Real(3.0) * 2.0;
    Real c = s;
    CHECK(c.is_constant());
    CHECK(c.value() == 8.0);
  }
  {  // teaching mode: the terms are recorded one by one, as f += term would
    ad::ScalarTape t;
    t.keep_values(true);
    Real a = t.variable(1.5, "a");
    ad::Sum s(t);
    s += a * a;
    s += sin(a);
    Real f = s;
    CHECK(close(ad::derivative(f, a), 3.0 + std::cos(1.5), 1e-15));
    CHECK(t.print().find("sin") != std::string::npos);
    CHECK(t.print().find("mul") != std::string::npos);
  }
}

TEST_CASE("ad::Sum: terms from another tape or from before a clear throw; a fresh Sum restarts") {
  ad::ScalarTape tape, other;
  Real x = tape.variable(1.0);
  Real o = other.variable(2.0);
  ad::Sum s(tape);
  s += x * x;
  CHECK_THROWS_AS(s += o * 2.0, ad::TapeError);
  // add_terms: the bad third term throws, and the two good ones before it are not kept either
  CHECK(support::message_of<ad::TapeError>([&] {
          s.add_terms(3, [&](std::size_t i) { return i == 2 ? o * x.value() : x * 2.0; });
        }) == "Sum: the term was recorded on another scalar tape than the sum's");
  CHECK(s.value() == 1.0);
  CHECK(s.pairs() == 1);
  CHECK(ad::derivative(Real(s), x) == 2.0);
  Real old = x;
  tape.clear();
  CHECK_THROWS_AS((void)Real(s), ad::TapeError);  // its pairs belong to the old recording
  Real fresh = tape.variable(3.0);
  CHECK_THROWS_AS(s += fresh, ad::TapeError);
  ad::Sum t(tape);  // made before any term: follows the tape through a clear
  tape.clear();
  Real z = tape.variable(4.0);
  t += z * z;
  CHECK(ad::derivative(Real(t), z) == 8.0);
  CHECK_THROWS_AS(t += x, ad::TapeError);  // x is stale
  // ad::sum with a term only of stale Reals: the sum's own check
  CHECK(support::message_of<ad::TapeError>([&] {
          ad::sum_terms(tape, 2, [&](std::size_t i) { return i == 0 ? z * z : old * old; });
        }) == "Sum: a Real from an earlier recording was used after its tape was cleared; record "
              "the variables and the sum again after clear()");
  CHECK(ad::derivative(ad::sum_terms(tape, 2, [&](std::size_t) { return z * z; }), z) == 16.0);
}

TEST_CASE("ad::Dual: forward mode with the tape's rules; a zero partial stays zero") {
  // the course example, both partials in one pass: f = sqrt(x^2 + exp(x y)) at (1.5, -0.5)
  const ad::Dual<2> x(1.5, 0), y(-0.5, 1);
  const ad::Dual<2> f = sqrt(x * x + exp(x * y));
  const double e = std::exp(-0.75), fv = std::sqrt(2.25 + e);
  CHECK(close(f.value(), fv, 1e-15));
  CHECK(close(f.partial(0), (3.0 - 0.5 * e) / (2 * fv), 1e-14));
  CHECK(close(f.partial(1), 1.5 * e / (2 * fv), 1e-14));
  // sqrt(a) + b at a = 0: d/db is 1 (an unused direction never sees the infinite d sqrt / da)
  const ad::Dual<2> a(0.0, 0), b(2.0, 1);
  const ad::Dual<2> g = sqrt(a) + b;
  CHECK(std::isinf(g.partial(0)));
  CHECK(g.partial(1) == 1.0);
  // compound assignment and comparisons (values only)
  ad::Dual<2> h = x;
  h *= y;
  h += 2.0;
  h -= x;
  h /= y;
  CHECK(close(h.value(), (1.5 * -0.5 + 2.0 - 1.5) / -0.5, 1e-15));
  CHECK(close(h.partial(0), (-0.5 - 1.0) / -0.5, 1e-15));                          // (y - 1) / y
  CHECK(close(h.partial(1), (1.5 * -0.5 - (1.5 * -0.5 + 2.0 - 1.5)) / 0.25, 1e-14));  // (x y - h y) / y^2
  CHECK((x > y && y < 0.0 && 2.0 > x && x == 1.5 && x != y));
  CHECK(ad::Dual<2>(3.0).partials() == std::array<double, 2>{0.0, 0.0});
}

TEST_CASE("variables(span): many variables at once, as variable() one by one") {
  for (bool teaching : {false, true}) {
    CAPTURE(teaching);
    ad::ScalarTape tape;
    tape.keep_values(teaching);
    Real c = tape.variable(0.5);  // one before, so ids do not start at 0
    std::vector<double> xs(1000);  // more than the initial capacity: the tape grows once
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = 0.001 * static_cast<double>(i) - 0.3;
    std::vector<Real> v = tape.variables(xs);
    REQUIRE(v.size() == xs.size());
    CHECK(tape.variable_count() == 1001);
    CHECK(tape.size() == 1001);
    CHECK(v[0].id() == 1);
    CHECK(v[999].id() == 1000);
    ad::Sum s(tape);
    for (std::size_t i = 0; i < v.size(); ++i) s += c * v[i] * v[i];
    Real f = s;
    const std::vector<double> g = ad::gradient(f);  // d/dc = sum x^2, d/dx_i = 2 c x_i
    double sx2 = 0;
    for (double x : xs) sx2 += x * x;
    CHECK(close(g[0], sx2, 1e-13));
    for (std::size_t i = 0; i < xs.size(); ++i) CHECK(g[i + 1] == 2 * 0.5 * xs[i]);
    // into a span; a wrong size is refused and records nothing
    std::vector<Real> w(3);
    tape.variables(std::vector<double>{1, 2, 3}, w);
    CHECK(w[2].value() == 3.0);
    CHECK(w[2].id() == tape.size() - 1);
    const std::size_t before = tape.size();
    std::vector<Real> small(2);
    CHECK_THROWS_WITH_AS(tape.variables(std::vector<double>{1, 2, 3}, small),
                         "variables: 3 values but room for 2 Reals", ad::ValueError);
    CHECK(tape.size() == before);
    tape.clear();
    CHECK_THROWS_AS(ad::Real(v[0] * 2.0), ad::TapeError);  // stale after clear, as any Real
  }
}

TEST_CASE("a tape with one statement (the sweep's short path) and its neighbours") {
  ad::ScalarTape tape;
  Real x = tape.variable(1.5), y = tape.variable(-2.0);
  Real f = x * y + sin(y) * x + x;  // pairs for x are not adjacent: (x, y) (y, x) (y, ..) (x, ..) (x, 1)
  REQUIRE(tape.size() == 3);
  auto [dx, dy] = ad::derivatives(f, ad::wrt(x, y));
  CHECK(close(dx, -2.0 + std::sin(-2.0) + 1.0, 1e-15));
  CHECK(close(dy, 1.5 + std::cos(-2.0) * 1.5, 1e-15));
  // a second sweep gives the same (adjoints start from zero each time)
  ad::backward(f);
  CHECK(x.adjoint() == dx);
  // the output is a variable recorded after the statement: d z / d z = 1, nothing else
  Real z = tape.variable(4.0);
  ad::backward(z);
  CHECK(z.adjoint() == 1.0);
  CHECK(x.adjoint() == 0.0);
  CHECK(f.adjoint() == 0.0);
  // the output is a variable recorded before the statement
  ad::backward(x);
  CHECK(x.adjoint() == 1.0);
  CHECK(y.adjoint() == 0.0);
}

TEST_CASE("ad::sum_terms(tape, count, term) and Sum::add_terms: the loop of s += term(i), faster") {
  for (bool teaching : {false, true}) {
    CAPTURE(teaching);
    const std::size_t n = 700;  // more pairs than a Sum's first scratch buffers hold
    ad::ScalarTape a, b;
    a.keep_values(teaching);
    b.keep_values(teaching);
    std::vector<double> x0(n);
    for (std::size_t i = 0; i < n; ++i) x0[i] = (i % 2 == 0 ? -1.2 : 1.0) + 1e-3 * static_cast<double>(i);
    std::vector<Real> xa = a.variables(x0), xb = b.variables(x0);
    auto term = [](const std::vector<Real>& x, std::size_t i) {
      return 100 * pow(x[i + 1] - x[i] * x[i], 2) + pow(1 - x[i], 2);
    };
    Real fa = 0.0;
    for (std::size_t i = 0; i + 1 < n; ++i) fa += term(xa, i);
    Real fb = ad::sum_terms(b, n - 1, [&](std::size_t i) { return term(xb, i); });
    CHECK(fb.value() == fa.value());  // the same additions in the same order
    const std::vector<double> ga = ad::gradient(fa), gb = ad::gradient(fb);
    for (std::size_t i = 0; i < n; ++i) CHECK(close(gb[i], ga[i], 1e-13));
    if (!teaching) CHECK(b.size() - n == 6);  // statements of up to 255 pairs (1398 pairs), not a chain of 699
  }
  // with terms added before and after, constant terms, a Real-returning term and plain numbers
  ad::ScalarTape tape;
  Real x = tape.variable(2.0), y = tape.variable(-1.0);
  ad::Sum s(tape);
  s += x * y;                                       // -2
  s.add_terms(4, [&](std::size_t i) -> Real {       // x^2, 10, x^2, 10
    return i % 2 == 0 ? Real(x * x) : Real(10.0);
  });
  s.add_terms(3, [](std::size_t i) { return 0.5 * static_cast<double>(i); });  // 0 + 0.5 + 1
  s.add_terms(0, [&](std::size_t) { return x * x; });                          // nothing
  s -= y;                                                                       // +1
  Real f = s;
  CHECK(f.value() == -2.0 + 4.0 + 10.0 + 4.0 + 10.0 + 1.5 + 1.0);
  auto [dx, dy] = ad::derivatives(f, ad::wrt(x, y));
  CHECK(dx == -1.0 + 4.0 + 4.0);  // y + 2 * 2x
  CHECK(dy == 2.0 - 1.0);         // x - 1
  // an empty sum is a constant 0
  CHECK(ad::sum_terms(tape, 0, [&](std::size_t) { return x * y; }).is_constant());
}

TEST_CASE("one set of verbs: Real::grad and ScalarTape::grad, as Var::grad and Tape::grad") {
  ad::ScalarTape tape;
  Real x = tape.variable(0.5), y = tape.variable(-2.0);
  Real f = x * x * y + sin(y);  // df/dx = 2 x y = -2, df/dy = x^2 + cos(y)
  const Real xs[] = {x, y};
  const std::vector<double> g = tape.grad(f, xs);
  REQUIRE(g.size() == 2);
  CHECK(g[0] == -2.0);
  CHECK(g[1] == 0.25 + std::cos(-2.0));
  CHECK(x.grad() == g[0]);  // grad() reads the adjoint of the last sweep, as Var::grad()
  CHECK(y.grad() == x.adjoint() * 0 + g[1]);
  CHECK(Real(3.0).grad() == 0.0);  // a constant
}
