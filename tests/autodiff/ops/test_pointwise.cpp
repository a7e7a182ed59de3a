// The elementwise tensor ops (autodiff/src/ops/pointwise.cpp): each unary op against its
// derivative by hand, finite differences and float32; the binary ops with broadcasting against
// derivatives by hand summed back to each input's shape. (tests/autodiff/ops/test_rules.cpp checks
// every rule on every path; these cases predate it.)
#include <ad/ops.hpp>

#include "op_checks.hpp"
#include "support.hpp"

#include <doctest/doctest.h>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xmath.hpp>

#include <cmath>
#include <functional>
#include <string>

using ad::Tape;
using ad::Var;
using Arr = xt::xarray<double>;
using op_checks::check_fd_and_float;
using op_checks::random_array;
using support::Rel;
using support::rel_err;

namespace {

// Sums a full-shape array back to `shape` by NumPy broadcasting rules (the reference sum_to).
Arr sum_to_ref(const Arr& full, const std::vector<std::size_t>& shape) {
  Arr r = full;
  while (r.dimension() > shape.size()) r = xt::sum(r, {0});
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (shape[d] == 1 && r.shape()[d] != 1) r = xt::sum(r, {d}, xt::keep_dims);
  return r;
}

template <class Op>
std::vector<Arr> engine_grads(const Op& op, const std::vector<Arr>& inputs, const Arr& w) {
  Tape<double> t;
  std::vector<Var<double>> x;
  for (const auto& a : inputs) x.push_back(t.variable(a));
  t.backward(ad::sum(op(x) * t.constant(w)));
  std::vector<Arr> g;
  for (auto& v : x) g.push_back(v.grad());
  return g;
}

template <class Op>
Arr engine_value(const Op& op, const std::vector<Arr>& inputs) {
  Tape<double> t;
  std::vector<Var<double>> x;
  for (const auto& a : inputs) x.push_back(t.variable(a));
  return op(x).value();
}

struct UnaryCase {
  std::string name;
  std::function<Var<double>(const Var<double>&)> fd;
  std::function<Var<float>(const Var<float>&)> ff;
  std::function<double(double)> value, derivative;
  std::vector<double> points;
};

#define UNARY(NAME, EXPR, VALUE, DERIV, POINTS)                                                    \
  UnaryCase {                                                                                    \
    NAME, [](const Var<double>& x) { return EXPR; }, [](const Var<float>& x) { return EXPR; },   \
        [](double x) { (void)x; return VALUE; }, [](double x) { (void)x; return DERIV; }, POINTS                   \
  }

const std::vector<double> kAll = {-2.1, -0.7, -0.1, 0.3, 1.1, 2.5};
const std::vector<double> kPos = {0.2, 0.7, 1.3, 2.9};

double sig(double x) { return 1 / (1 + std::exp(-x)); }

}  // namespace

TEST_CASE("pointwise: every unary op against its analytic derivative, finite differences and float32") {
  const std::vector<UnaryCase> cases = {
      UNARY("neg", -x, -x, -1.0, kAll),
      UNARY("exp", ad::exp(x), std::exp(x), std::exp(x), kAll),
      UNARY("log", ad::log(x), std::log(x), 1 / x, kPos),
      UNARY("sqrt", ad::sqrt(x), std::sqrt(x), 0.5 / std::sqrt(x), kPos),
      UNARY("pow 2", ad::pow(x, 2), x * x, 2 * x, kAll),
      UNARY("pow 3.5", ad::pow(x, 3.5), std::pow(x, 3.5), 3.5 * std::pow(x, 2.5), kPos),
      UNARY("pow -1.5", ad::pow(x, -1.5), std::pow(x, -1.5), -1.5 * std::pow(x, -2.5), kPos),
      UNARY("abs", ad::abs(x), std::abs(x), x > 0 ? 1.0 : -1.0, kAll),
      UNARY("tanh", ad::tanh(x), std::tanh(x), 1 / (std::cosh(x) * std::cosh(x)), kAll),
      UNARY("sigmoid", ad::sigmoid(x), sig(x), std::exp(-x) / ((1 + std::exp(-x)) * (1 + std::exp(-x))), kAll),
      UNARY("relu", ad::relu(x), x > 0 ? x : 0.0, x > 0 ? 1.0 : 0.0, kAll),
      UNARY("leaky_relu", ad::leaky_relu(x, 0.1), x > 0 ? x : 0.1 * x, x > 0 ? 1.0 : 0.1, kAll),
      UNARY("elu", ad::elu(x, 0.7), x > 0 ? x : 0.7 * (std::exp(x) - 1), x > 0 ? 1.0 : 0.7 * std::exp(x), kAll),
      UNARY("softplus", ad::softplus(x), std::log(1 + std::exp(x)), 1 / (1 + std::exp(-x)), kAll),
      UNARY("swish", ad::swish(x), x * sig(x), sig(x) + x * sig(x) * (1 - sig(x)), kAll),
      UNARY("silu", ad::silu(x), x * sig(x), sig(x) + x * sig(x) * (1 - sig(x)), kAll),
      UNARY("clamp", ad::clamp(x, -1, 1.5), std::min(std::max(x, -1.0), 1.5), (x >= -1 && x <= 1.5) ? 1.0 : 0.0, kAll),
      UNARY("x*x (used twice)", x * x, x * x, 2 * x, kAll),
      UNARY("x/(1+x) (scalars on both sides)", x / (1 + x), x / (1 + x), 1 / ((1 + x) * (1 + x)), kPos),
      UNARY("2-x*3", 2 - x * 3, 2 - 3 * x, -3.0, kAll),
  };
  for (const auto& c : cases) {
    SUBCASE(c.name.c_str()) {
      Arr x = xt::zeros<double>({c.points.size()});
      std::copy(c.points.begin(), c.points.end(), x.begin());
      Arr expected_value = x, expected_grad = x;
      for (std::size_t i = 0; i < x.size(); ++i) {
        expected_value(i) = c.value(x(i));
        expected_grad(i) = c.derivative(x(i));
      }
      Tape<double> t;
      auto xv = t.variable(x);
      auto y = c.fd(xv);
      CHECK(rel_err(y.value(), expected_value) < 1e-14);
      t.backward(ad::sum(y));
      CHECK(rel_err(xv.grad(), expected_grad) < 1e-10);
      // the same op on a (2, 3) matrix, against finite differences and in float32
      if (c.points.size() == 6) {
        Arr m = xt::reshape_view(x, {2, 3});  // only 6 points fill (2, 3) (ASan: heap overflow)
        auto opd = [&](const auto& v) { if constexpr (std::is_same_v<std::decay_t<decltype(v[0])>, Var<double>>) return c.fd(v[0]); else return c.ff(v[0]); };
        check_fd_and_float(opd, {m}, random_array({2, 3}, -1, 1, 3));
        Tape<float> tf;
        auto xf = tf.variable(xt::xarray<float>(xt::cast<float>(m)));
        tf.backward(ad::sum(c.ff(xf)));
        CHECK(rel_err(xf.grad(), xt::reshape_view(expected_grad, {2, 3}), Rel::normwise) < 1e-4);
      } else {
        auto opd = [&](const auto& v) { if constexpr (std::is_same_v<std::decay_t<decltype(v[0])>, Var<double>>) return c.fd(v[0]); else return c.ff(v[0]); };
        check_fd_and_float(opd, {x}, random_array({x.size()}, -1, 1, 3));
      }
    }
  }
}

TEST_CASE("pointwise: binary ops with broadcasting against analytic derivatives") {
  struct BinaryCase {
    std::string name;
    std::function<Var<double>(const Var<double>&, const Var<double>&)> op;
    std::function<Var<float>(const Var<float>&, const Var<float>&)> opf;
    std::function<Arr(const Arr&, const Arr&)> value, da, db;
  };
  const std::vector<BinaryCase> ops = {
      {"add", [](auto& a, auto& b) { return a + b; }, [](auto& a, auto& b) { return a + b; },
       [](const Arr& a, const Arr& b) -> Arr { return a + b; },
       [](const Arr& a, const Arr&) -> Arr { return xt::ones_like(a); },
       [](const Arr&, const Arr& b) -> Arr { return xt::ones_like(b); }},
      {"sub", [](auto& a, auto& b) { return a - b; }, [](auto& a, auto& b) { return a - b; },
       [](const Arr& a, const Arr& b) -> Arr { return a - b; },
       [](const Arr& a, const Arr&) -> Arr { return xt::ones_like(a); },
       [](const Arr&, const Arr& b) -> Arr { return -xt::ones_like(b); }},
      {"mul", [](auto& a, auto& b) { return a * b; }, [](auto& a, auto& b) { return a * b; },
       [](const Arr& a, const Arr& b) -> Arr { return a * b; }, [](const Arr&, const Arr& b) -> Arr { return b; },
       [](const Arr& a, const Arr&) -> Arr { return a; }},
      {"div", [](auto& a, auto& b) { return a / b; }, [](auto& a, auto& b) { return a / b; },
       [](const Arr& a, const Arr& b) -> Arr { return a / b; },
       [](const Arr&, const Arr& b) -> Arr { return 1.0 / b; },
       [](const Arr& a, const Arr& b) -> Arr { return -a / (b * b); }},
      {"maximum", [](auto& a, auto& b) { return ad::maximum(a, b); }, [](auto& a, auto& b) { return ad::maximum(a, b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::maximum(a, b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::cast<double>(a >= b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::cast<double>(a < b); }},
      {"minimum", [](auto& a, auto& b) { return ad::minimum(a, b); }, [](auto& a, auto& b) { return ad::minimum(a, b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::minimum(a, b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::cast<double>(a <= b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::cast<double>(a > b); }},
  };
  using S = std::vector<std::size_t>;
  const std::vector<std::pair<S, S>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 4}, {1, 4}}, {{4}, {3, 4}}, {{3, 1}, {1, 4}},
      {{}, {3, 4}},     {{3, 4}, {}},  {{2, 3, 4}, {3, 1}}, {{}, {}}};
  unsigned seed = 10;
  for (const auto& c : ops) {
    for (const auto& [sa, sb] : shapes) {
      const std::string label = c.name + " " + ad::shape_str(sa) + " with " + ad::shape_str(sb);
      SUBCASE(label.c_str()) {
        Arr a = random_array(sa, -2, 2, ++seed);
        Arr b = random_array(sb, 0.5, 2, ++seed);  // away from 0 for div
        Arr sum_ab = a + b;
        Arr A = xt::broadcast(a, sum_ab.shape()), B = xt::broadcast(b, sum_ab.shape());
        Arr w = random_array(S(A.shape().begin(), A.shape().end()), -1, 1, ++seed);
        auto op = [&](const auto& x) { if constexpr (std::is_same_v<std::decay_t<decltype(x[0])>, Var<double>>) return c.op(x[0], x[1]); else return c.opf(x[0], x[1]); };
        CHECK(rel_err(engine_value(op, {a, b}), c.value(A, B)) < 1e-15);
        auto g = engine_grads(op, {a, b}, w);
        CHECK(rel_err(g[0], sum_to_ref(w * c.da(A, B), sa)) < 1e-10);
        CHECK(rel_err(g[1], sum_to_ref(w * c.db(A, B), sb)) < 1e-10);
        check_fd_and_float(op, {a, b}, w);
      }
    }
  }
}

TEST_CASE("pointwise: a value used twice in one binary op gets both contributions") {
  Tape<double> t;
  auto x = t.variable(Arr{1.5, -2.0});
  t.backward(ad::sum(x * x + x / x));  // d/dx (x^2 + 1) = 2x
  CHECK(rel_err(x.grad(), Arr{3.0, -4.0}) < 1e-15);
}

TEST_CASE("pointwise: sqrt(x^2 + exp(x^2)) and its derivative to 1e-12") {
  for (double x0 : {0.5, 1.0, 1.5, -2.0}) {
    for (bool scalar : {true, false}) {
      Tape<double> t;
      auto x = scalar ? t.variable(x0) : t.variable(Arr{x0});
      auto f = ad::sqrt(x * x + ad::exp(x * x));
      const double e = std::exp(x0 * x0), value = std::sqrt(x0 * x0 + e);
      const double dfdx = x0 * (1 + e) / value;
      CHECK(rel_err(f.item(), value) <= 1e-12);
      t.backward(ad::sum(f));
      CHECK(rel_err(x.grad().data()[0], dfdx) <= 1e-12);
    }
  }
}
