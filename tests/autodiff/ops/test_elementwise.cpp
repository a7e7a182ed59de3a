// ad::elementwise: a user's function of 1-3 numbers recorded as one tensor node. Checked against
// hand-derived gradients, against the same function written with the unfused tensor ops, against
// central finite differences (the public gradcheck), float against double, and for its errors.
#include <ad/elementwise.hpp>
#include <ad/gradcheck.hpp>
#include <ad/ops.hpp>

#include "op_checks.hpp"
#include "support.hpp"

#include <doctest/doctest.h>
#include <xtensor/xrandom.hpp>

#include <cmath>
#include <limits>
#include <string>

using ad::Tape;
using ad::Var;
using Arr = xt::xarray<double>;
using op_checks::random_array;

namespace {

// The extended Rosenbrock term of W1b, written once for ad::elementwise.
const auto rosen = [](auto a, auto b) { return 100 * pow(b - a * a, 2) + pow(1 - a, 2); };

}  // namespace

TEST_CASE("elementwise: Rosenbrock as one node matches the hand-derived gradient and the unfused ops") {
  const std::size_t n = 37;  // not a multiple of any vector width
  Arr x = random_array({n}, -1.5, 1.5, 3);
  Tape<double> t;
  auto xv = t.variable(x);
  auto a = ad::slice(xv, 0, 0, -1), b = ad::slice(xv, 0, 1, static_cast<std::ptrdiff_t>(n));
  auto e = ad::elementwise(rosen, a, b);
  CHECK(std::string(e.op()) == "elementwise");
  CHECK(e.shape() == std::vector<std::size_t>{n - 1});
  auto f = ad::sum(e);
  // hand-derived: f = sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2
  double fv = 0;
  Arr g = xt::zeros<double>({n});
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const double tt = x[i + 1] - x[i] * x[i], u = 1 - x[i];
    fv += 100 * tt * tt + u * u;
    g[i] += -400 * x[i] * tt - 2 * u;
    g[i + 1] += 200 * tt;
  }
  CHECK(f.item() == doctest::Approx(fv).epsilon(1e-14));
  t.backward(f);
  CHECK(support::rel_err(xv.grad(), g, support::Rel::normwise) <= 1e-12);

  // the same function from the unfused ops: the same gradient
  Tape<double> t2;
  auto x2 = t2.variable(x);
  auto a2 = ad::slice(x2, 0, 0, -1), b2 = ad::slice(x2, 0, 1, static_cast<std::ptrdiff_t>(n));
  t2.backward(ad::sum(100.0 * ((b2 - a2 * a2) * (b2 - a2 * a2)) + (1.0 - a2) * (1.0 - a2)));
  CHECK(support::rel_err(xv.grad(), x2.grad(), support::Rel::normwise) <= 1e-12);
}

namespace {

// fn on K inputs (the arity is fixed at compile time, as fn's).
template <std::size_t K, class T, class Fn>
Var<T> apply(const Fn& fn, const std::vector<Var<T>>& x) {
  if constexpr (K == 1)
    return ad::elementwise(fn, x[0]);
  else if constexpr (K == 2)
    return ad::elementwise(fn, x[0], x[1]);
  else
    return ad::elementwise(fn, x[0], x[1], x[2]);
}

// loss = sum(w * elementwise(fn, inputs)): finite differences (gradcheck) and float vs double.
// Forward mode works from the saved partials: jvp against differences of the value. The node
// keeps numbers, not fn, so it has no second-order rule: hvp says so, naming the op.
template <std::size_t K, class Fn>
void check_fn(const Fn& fn, const std::vector<Arr>& inputs, const Arr& w) {
  auto op = [&](const auto& x) { return apply<K>(fn, x); };
  op_checks::check_fd_and_float(op, inputs, w, false);
  Tape<double> t;
  std::vector<Var<double>> x;
  std::vector<Arr> v;
  for (const auto& a : inputs) {
    x.push_back(t.variable(a));
    v.push_back(random_array({a.shape().begin(), a.shape().end()}, -1, 1, 11));
  }
  const Arr jvp = t.jvp(op(x), x, v);
  const double h = 1e-6;
  auto value_at = [&](double s) {
    Tape<double> u;
    std::vector<Var<double>> xs;
    for (std::size_t k = 0; k < inputs.size(); ++k) xs.push_back(u.variable(Arr(inputs[k] + s * v[k])));
    return Arr(op(xs).value());
  };
  CHECK(support::rel_err(jvp, Arr((value_at(h) - value_at(-h)) / (2 * h)), support::Rel::normwise) < 1e-6);
  auto loss = ad::sum(op(x));
  CHECK(support::message_of<ad::TapeError>([&] { t.hvp(loss, x, v); }) ==
        "hvp: the op elementwise (node " + std::to_string(loss.id() - 1) +
            ") has no second-order rule; hvp goes through the ops of <ad/ops.hpp> (ad::elementwise "
            "and custom ops are first-order only)");
}

}  // namespace

TEST_CASE("elementwise: one, two and three inputs against finite differences, float against double") {
  Arr a = random_array({3, 4}, 0.2, 1.5, 5), b = random_array({3, 4}, -1, 1, 6),
      c = random_array({3, 4}, -2, 2, 7);
  const Arr w = random_array({3, 4}, -1, 1, 8);
  SUBCASE("one input, with a branch per entry") {
    check_fn<1>([](auto x) { return x > 0.6 ? sqrt(x) * exp(-x) : 0.1 * x * x * x; }, {a}, w);
  }
  SUBCASE("two inputs") {
    check_fn<2>([](auto x, auto y) { return tanh(x * y) + log(x) / (1 + y * y); }, {a, b}, w);
  }
  SUBCASE("three inputs, and an input used twice") {
    check_fn<3>([](auto x, auto y, auto z) { return sigmoid(x - z) * y + pow(x, y) + atan2(z, x); },
                {a, b, c}, w);
    check_fn<3>([](auto x, auto y, auto z) { return x * y * z; }, {a, a, b}, w);
  }
}

TEST_CASE("elementwise: a single-entry input is used for every entry; its adjoint is the sum") {
  Tape<double> t;
  Arr xs = random_array({2, 5}, -1, 1, 11);
  auto x = t.variable(xs);
  auto k = t.variable(Arr{0.7});  // shape (1,)
  auto s = t.variable(1.5);       // 0-d
  auto y = ad::elementwise([](auto v, auto kk, auto ss) { return kk * v * v + ss; }, x, k, s);
  CHECK(y.shape() == std::vector<std::size_t>{2, 5});
  CHECK(support::rel_err(y.value(), 0.7 * xs * xs + 1.5) <= 4e-16);  // the values are 1.5 to 2.2
  t.backward(ad::sum(y));
  CHECK(support::rel_err(x.grad(), 2 * 0.7 * xs) <= 7e-16);  // |x.grad()| <= 1.4
  CHECK(k.grad()(0) == doctest::Approx(xt::sum(xs * xs)()).epsilon(1e-14));
  CHECK(s.grad()() == 10.0);
  // every input a single entry: the result has the shape with the most dimensions
  Tape<double> t2;
  auto p = t2.variable(2.0), q = t2.variable(Arr{3.0});
  CHECK(ad::elementwise([](auto u, auto v) { return u * v; }, p, q).shape() == std::vector<std::size_t>{1});
}

TEST_CASE("elementwise: a zero partial stays zero at an infinite derivative; constants; no-grad") {
  Tape<double> t;
  auto a = t.variable(Arr{0.0, 4.0}), b = t.variable(Arr{2.0, 3.0});
  t.backward(ad::sum(ad::elementwise([](auto u, auto v) { return sqrt(u) + v; }, a, b)));
  CHECK(b.grad() == Arr{1.0, 1.0});  // not NaN from inf * 0
  CHECK(std::isinf(a.grad()(0)));
  CHECK(a.grad()(1) == 0.25);

  // a function that ignores its argument: the value, and a zero gradient
  Tape<double> t2;
  auto c = t2.variable(Arr{1.0, 2.0});
  auto y = ad::elementwise([](auto) { return 3.0; }, c);
  CHECK(y.value() == Arr{3.0, 3.0});
  t2.backward(ad::sum(y));
  CHECK(c.grad() == Arr{0.0, 0.0});

  // under NoGradGuard: values only, nothing to differentiate
  Tape<double> t3;
  auto d = t3.variable(Arr{1.0, 2.0});
  ad::NoGradGuard ng;
  auto z = ad::elementwise([](auto u) { return exp(u); }, d);
  CHECK(!z.requires_grad());
  CHECK(support::rel_err(z.value(), Arr{std::exp(1.0), std::exp(2.0)}) == 0.0);
}

TEST_CASE("elementwise: shape mismatches, stale and foreign handles, anomaly mode") {
  Tape<double> t, other;
  auto a = t.variable(Arr{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  auto b = t.variable(Arr{1.0, 2.0, 3.0});
  CHECK(support::message_of<ad::ShapeError>([&] {
          ad::elementwise([](auto u, auto v) { return u + v; }, a, b);
        }) == "elementwise: inputs have shapes (2, 3) and (3,); they must have one shape (an input "
             "with a single entry is used for every entry)");
  auto f = other.variable(Arr{1.0, 2.0, 3.0});
  CHECK_THROWS_AS(ad::elementwise([](auto u, auto v) { return u + v; }, b, f), ad::TapeError);
  CHECK(t.size() == 2);  // nothing was recorded by the failed calls
  t.clear();
  CHECK_THROWS_AS(ad::elementwise([](auto u) { return u; }, b), ad::TapeError);

  Tape<double> t2;
  t2.set_anomaly_mode(true);
  auto x = t2.variable(Arr{1.0, -1.0});
  CHECK(support::message_of<ad::ValueError>([&] { ad::elementwise([](auto u) { return log(u); }, x); })
            .find("anomaly: forward of elementwise") == 0);
}
