// Tape::jvp, Tape::hvp and Tape::hessian (autodiff/src/tape/second.cpp): hand-derived cases, the
// sweep's bookkeeping (inputs used twice, intermediate inputs, branches that do not reach y,
// parameters' sinks) and the errors. Every op's rules are checked by the op tables
// (tests/autodiff/ops, op_checks.hpp).
#include <ad/elementwise.hpp>
#include <ad/ops.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

using namespace ad;
using Arr = xt::xarray<double>;
using support::message_of;
using support::rel_err;

TEST_CASE("second order: hand-derived jvp, hvp and Hessian") {
  Tape<double> t;
  auto x = t.variable(Arr{0.5, -1.0, 2.0});
  auto y = t.variable(Arr{3.0, 0.25, -2.0});
  // f = sum(x^3) + sum(x * y):  grad_x = 3 x^2 + y, grad_y = x;  H = [[diag(6x), I], [I, 0]]
  auto f = ad::sum(x * x * x) + ad::sum(x * y);
  const Arr vx{1.0, 2.0, -1.0}, vy{0.5, 0.0, 4.0};
  // jvp of f: grad . v
  const Arr df = t.jvp(f, {x, y}, {vx, vy});
  CHECK(df() == doctest::Approx((3 * 0.25 + 3) * 1 + (3 * 1 + 0.25) * 2 + (3 * 4 - 2) * -1 + 0.5 * 0.5 + 2 * 4));
  std::vector<Arr> gradient;
  const auto hv = t.hvp(f, {x, y}, {vx, vy}, &gradient);
  CHECK(rel_err(hv[0], Arr(6.0 * Arr{0.5, -1.0, 2.0} * vx + vy)) == 0);
  CHECK(rel_err(hv[1], vx) == 0);
  CHECK(rel_err(gradient[0], Arr{3 * 0.25 + 3, 3 + 0.25, 12 - 2}) == 0);
  CHECK(rel_err(gradient[1], Arr{0.5, -1.0, 2.0}) == 0);
  const Arr H = t.hessian(f, {x, y});
  const Arr want = {{3, 0, 0, 1, 0, 0}, {0, -6, 0, 0, 1, 0}, {0, 0, 12, 0, 0, 1},
                    {1, 0, 0, 0, 0, 0}, {0, 1, 0, 0, 0, 0}, {0, 0, 1, 0, 0, 0}};
  CHECK(rel_err(H, want) == 0);
  // jvp of a vector output: d(x * y) = vx * y + x * vy
  auto p = x * y;
  CHECK(rel_err(t.jvp(p, {x, y}, {vx, vy}), Arr(vx * Arr{3.0, 0.25, -2.0} + Arr{0.5, -1.0, 2.0} * vy)) == 0);
}

TEST_CASE("second order: a quadratic form through matmul has Hessian A + A^T, exactly") {
  Tape<double> t;
  const Arr A = {{2.0, -1.0, 0.5}, {0.0, 3.0, 1.0}, {4.0, 0.5, -2.0}};
  auto x = t.variable(Arr{1.0, -2.0, 0.5});
  auto q = ad::matmul(x, ad::matmul(t.constant(A), x));  // x^T A x
  CHECK(rel_err(t.hessian(q, {x}), Arr(A + xt::transpose(A))) == 0);
}

TEST_CASE("second order: inputs used twice, listed twice, intermediate; branches that miss y") {
  Tape<double> t;
  auto x = t.variable(Arr{1.5});
  auto unrelated = ad::elementwise([](auto a) { return a * a; }, x);  // first-order only, not on y's path
  (void)unrelated;
  auto y = ad::sum(ad::sin(x) * ad::sin(x));  // sin^2: d2 = 2 cos 2x
  CHECK(t.hvp(y, {x}, {Arr{1.0}})[0](0) == doctest::Approx(2 * std::cos(3.0)).epsilon(1e-14));
  // x listed twice: the directions add
  const auto twice = t.hvp(y, {x, x}, {Arr{0.25}, Arr{0.75}});
  CHECK(twice[0](0) == doctest::Approx(2 * std::cos(3.0)).epsilon(1e-14));
  // an intermediate input is independent: y = s * s with s = sin(x) has d2y/ds2 = 2
  Tape<double> u;
  auto z = u.variable(Arr{1.5});
  auto s = ad::sin(z);
  auto w = ad::sum(s * s);
  CHECK(u.hvp(w, {s}, {Arr{1.0}})[0](0) == 2);
  CHECK(u.jvp(w, {s}, {Arr{1.0}})() == doctest::Approx(2 * std::sin(1.5)).epsilon(1e-15));
  // an input y does not depend on: zeros
  auto other = u.variable(Arr{7.0, 8.0});
  const auto hv = u.hvp(w, {z, other}, {Arr{1.0}, Arr{1.0, 1.0}});
  CHECK(rel_err(hv[1], Arr{0.0, 0.0}) == 0);
  CHECK(rel_err(u.jvp(w, {other}, {Arr{1.0, 1.0}}), Arr(0.0)) == 0);
}

TEST_CASE("second order: parameters' gradient sinks are left alone; repeated calls agree") {
  Tape<double> t;
  Arr storage = {0.3, -0.7}, sink = {10.0, 20.0};
  auto p = t.parameter(storage, &sink);
  auto y = ad::sum(ad::exp(p) * p);  // d2/dp2 (p e^p) = (p + 2) e^p
  const auto a = t.hvp(y, {p}, {Arr{1.0, 1.0}});
  const auto b = t.hvp(y, {p}, {Arr{1.0, 1.0}});
  CHECK(rel_err(a[0], Arr{(0.3 + 2) * std::exp(0.3), (-0.7 + 2) * std::exp(-0.7)}) < 1e-15);
  CHECK(rel_err(a[0], b[0]) == 0);
  CHECK(rel_err(sink, Arr{10.0, 20.0}) == 0);
}

TEST_CASE("second order: float") {
  Tape<float> t;
  auto x = t.variable(xt::xarray<float>{0.5f, 2.0f});
  auto y = ad::sum(ad::log(x) * x);  // d2/dx2 (x log x) = 1 / x
  const auto hv = t.hvp(y, {x}, {xt::xarray<float>{1.0f, 1.0f}});
  CHECK(hv[0](0) == doctest::Approx(2.0f));
  CHECK(hv[0](1) == doctest::Approx(0.5f));
}

TEST_CASE("second order: errors name the call, the input and the op") {
  Tape<double> t;
  auto x = t.variable(Arr{1.0, 2.0});
  auto c = t.constant(Arr{1.0, 2.0});
  auto y = ad::sum(x * c);
  CHECK(message_of<ShapeError>([&] { t.hvp(y, {x}, {}); }) ==
        "hvp: 1 inputs but 0 directions; give one direction per input");
  CHECK(message_of<ShapeError>([&] { t.jvp(y, {x}, {Arr{1.0}}); }) ==
        "jvp: the direction for input 0 has shape (1,), the input has shape (2,)");
  CHECK(message_of<ValueError>([&] { t.jvp(y, {x, c}, {Arr{1.0, 1.0}, Arr{1.0, 1.0}}); }) ==
        "jvp: input 1 (constant, node 1) is a constant; directions are for values recorded with "
        "variable() or parameter()");
  CHECK(message_of<TapeError>([&] { t.hvp(x * c, {x}, {Arr{1.0, 1.0}}); }) ==
        "hvp: the output has shape (2,); hvp() needs a single value (reduce it with sum() or mean())");
  auto e = ad::sum(ad::elementwise([](auto a) { return a * a; }, x));
  CHECK(message_of<TapeError>([&] { t.hvp(e, {x}, {Arr{1.0, 1.0}}); }) ==
        fmt::format("hvp: the op elementwise (node {}) has no second-order rule; hvp goes through the ops "
                    "of <ad/ops.hpp> (ad::elementwise and custom ops are first-order only)",
                    e.id() - 1));
  // the tape stays usable
  CHECK(t.hvp(y, {x}, {Arr{1.0, 1.0}})[0](0) == 0);
  CHECK(t.jvp(e, {x}, {Arr{1.0, 0.0}})() == 2);
}
