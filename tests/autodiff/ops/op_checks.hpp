// The one checker of the tensor ops. A test file lists rows, one per op and case:
//
//   {.label = "sum axis 1 keepdims",                                    // names the case
//    .op = "sum",                                                       // the op under test
//    .f = [](const auto& x) { return ad::sum(x[0], 1, true); },         // on Vars, float or double
//    .shapes = {{2, 3, 4}},                                             // one shape per input
//    .domain = {-2, 2},                                                 // inputs uniform in [-2, 2]
//    .value = [](const Inputs& x) { return ...; },                      // independent reference
//    .vjp = [](const Inputs& x, const Arr& w) { return Inputs{...}; },  // optional, by hand
//    .bad_shapes = {{{3}}},                                             // must throw "sum: ..."
//    .tol = {...},                                                      // default: 1e-15 entrywise
//    .fd = true}                                                        // finite differences apply
//
// and check_rows(rows) runs each of them, in double and in float:
//   * the result's node is named .op and its value matches .value, computed independently in
//     double from the same inputs (rounded to float for the float run): plain loops, xtensor or
//     a formula written out, never the engine;
//   * for weights w of the result's shape, the gradient of sum(w * f(x)) has each input's shape
//     (a broadcast input gets its adjoint summed back) and matches .vjp if the row gives one (a
//     hand-derived vector-Jacobian product) and, unless .fd is false, central finite differences
//     of the double op (the public ad::gradcheck); the float gradient matches the double
//     reference within float precision;
//   * second order, in double where finite differences apply: for random directions v,
//     Tape::jvp of the op matches central differences of its value, and Tape::hvp of
//     sum(w * sin(op(x))) (sin, so that the op's adjoint has a tangent of its own) matches central differences of its gradient (both within 1e-6 of the largest entry); the
//     Hessian of the loss is symmetric and its product with v is the hvp; in float, jvp and hvp
//     match the double ones within float precision;
//   * inputs of each of .bad_shapes throw ad::ShapeError with a message that starts "<op>: ",
//     the same in float and double.
// Tolerances are per row in the measure of support::rel_err: Tol::value/grad for double (measured
// as Tol::how says), Tol::value_f/grad_f for float (norm-wise).
#pragma once

#include <ad/gradcheck.hpp>
#include <ad/ops.hpp>

#include "support.hpp"

#include <doctest/doctest.h>
#include <xtensor/xarray.hpp>
#include <xtensor/xrandom.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace op_checks {

using ad::Tape;
using ad::Var;
using Arr = xt::xarray<double>;
using Inputs = std::vector<Arr>;
using Shape = std::vector<std::size_t>;
using support::Rel;
using support::rel_err;

inline Arr random_array(const std::vector<std::size_t>& shape, double lo, double hi, unsigned seed) {
  xt::random::seed(seed);
  Arr a = xt::random::rand<double>(shape, lo, hi);
  return a;
}

/// An op under test, written once as a generic lambda of the inputs' Vars, kept for both types.
struct Fn {
  std::function<Var<double>(const std::vector<Var<double>>&)> d;
  std::function<Var<float>(const std::vector<Var<float>>&)> f;
  template <class L>
  Fn(L op) : d(op), f(op) {}  // NOLINT: implicit, so a row says .f = [](const auto& x) { ... }
  Var<double> operator()(const std::vector<Var<double>>& x) const { return d(x); }
  Var<float> operator()(const std::vector<Var<float>>& x) const { return f(x); }
};

/// Where a row's inputs come from: drawn uniformly from [lo, hi], or given.
struct Domain {
  double lo = -1, hi = 1;
  Inputs given = {};
};

/// Largest errors allowed (support::rel_err): double value and gradient in the measure `how`,
/// float value and gradient norm-wise.
struct Tol {
  double value = 1e-15, grad = 1e-15;
  Rel how = Rel::entrywise;
  double value_f = 1e-6, grad_f = 1e-5;
};
/// Ops that only move entries: every value and adjoint exact, in double and float.
inline constexpr Tol exact{0, 0, Rel::entrywise, 0, 0};

struct Row {
  std::string label;  // names the case in failure messages
  std::string op;     // the op under test: the result node's op(), the prefix of its errors
  Fn f;
  std::vector<Shape> shapes = {};  // one per input (from .domain.given when empty)
  Domain domain = {};
  std::function<Arr(const Inputs&)> value;                    // the reference value, in double
  std::function<Inputs(const Inputs&, const Arr&)> vjp = {};  // d sum(w * f(x)) / dx, by hand
  std::vector<std::vector<Shape>> bad_shapes = {};
  Tol tol = {};
  bool fd = true;  // false where finite differences do not apply (ties of max, detach)
};

namespace detail {

inline unsigned seed_of(const std::string& label) {  // FNV-1a: a fixed seed per row
  std::uint32_t h = 2166136261u;
  for (unsigned char c : label) h = (h ^ c) * 16777619u;
  return h;
}

inline Shape shape_of(const Arr& a) { return Shape(a.shape().begin(), a.shape().end()); }

template <class T>
std::vector<Var<T>> record(Tape<T>& t, const Inputs& x) {
  std::vector<Var<T>> v;
  for (const auto& a : x) v.push_back(t.variable(xt::xarray<T>(xt::cast<T>(a))));
  return v;
}

inline Arr rounded_to_float(const Arr& a) {
  return xt::cast<double>(xt::xarray<float>(xt::cast<float>(a)));
}

}  // namespace detail

/// Finite differences (the public ad::gradcheck) of loss = sum(w * op(inputs)) in double.
template <class Op>
void check_finite_differences(const Op& op, const Inputs& inputs, const Arr& w) {
  ad::TensorFunction f = [&](Tape<double>& t, const std::vector<Var<double>>& x) {
    return ad::sum(op(x) * t.constant(w));
  };
  auto r = ad::gradcheck(f, inputs);
  INFO(r.report());
  CHECK(r.ok);
  for (const auto& e : r.inputs) CHECK(e.max_abs_error < 1e-6);
}

/// Finite differences in double, then float32 against float64: values and gradients of
/// loss = sum(w * op(inputs)) within 1e-4, norm-wise; then check_second_order. For ops without a reference of their own
/// (ad::elementwise of a user's function); table rows get check_rows.
template <class Op>
void check_second_order(const Op& op, const Inputs& x, const Arr& w, unsigned seed);

template <class Op>
void check_fd_and_float(const Op& op, const Inputs& inputs, const Arr& w, bool second_order = true) {
  check_finite_differences(op, inputs, w);
  if (second_order) check_second_order(op, inputs, w, 7);
  Tape<double> td;
  Tape<float> tf;
  auto xd = detail::record(td, inputs);
  auto xf = detail::record(tf, inputs);
  Var<double> yd = op(xd);
  Var<float> yf = op(xf);
  CHECK(rel_err(yf.value(), yd.value(), Rel::normwise) < 1e-4);
  td.backward(ad::sum(yd * td.constant(w)));
  tf.backward(ad::sum(yf * tf.constant(xt::xarray<float>(xt::cast<float>(w)))));
  for (std::size_t k = 0; k < inputs.size(); ++k)
    CHECK(rel_err(xf[k].grad(), xd[k].grad(), Rel::normwise) < 1e-4);
}

/// jvp and hvp of the op against central differences of its value and of the gradient of
/// loss = sum(w * sin(op(inputs))); the explicit Hessian's symmetry and product with v; float against
/// double.
template <class Op>
void check_second_order(const Op& op, const Inputs& x, const Arr& w, unsigned seed) {
  Inputs v;
  std::size_t total = 0;
  for (std::size_t k = 0; k < x.size(); ++k) {
    v.push_back(random_array(detail::shape_of(x[k]), -1, 1, seed + 101 + k));
    total += x[k].size();
  }
  const auto moved = [&](double h) {
    Inputs m = x;
    for (std::size_t k = 0; k < x.size(); ++k) m[k] = x[k] + h * v[k];
    return m;
  };
  const auto value_at = [&](const Inputs& at) {
    Tape<double> t;
    return Arr(op(detail::record(t, at)).value());
  };
  const auto grad_at = [&](const Inputs& at) {
    Tape<double> t;
    auto xv = detail::record(t, at);
    return t.grad(ad::sum(ad::sin(op(xv)) * t.constant(w)), xv);
  };
  const double h = 1e-5;
  Tape<double> t;
  auto xv = detail::record(t, x);
  Var<double> y = op(xv);
  const Arr jvp = t.jvp(y, xv, v);
  const Arr jvp_fd = (value_at(moved(h)) - value_at(moved(-h))) / (2 * h);
  INFO("jvp " << jvp << " vs differences " << jvp_fd);
  CHECK(rel_err(jvp, jvp_fd, Rel::normwise) < 1e-6);

  // sin: nonlinear in the op's result, so the op's adjoint has a tangent and every term of its
  // backward_tangent counts
  Var<double> loss = ad::sum(ad::sin(y) * t.constant(w));
  std::vector<Arr> gradient;
  const auto hv = t.hvp(loss, xv, v, &gradient);
  const auto gp = grad_at(moved(h)), gm = grad_at(moved(-h)), g0 = grad_at(x);
  REQUIRE(hv.size() == x.size());
  for (std::size_t k = 0; k < x.size(); ++k) {
    INFO("input " << k << ": hvp " << hv[k] << " vs differences " << (gp[k] - gm[k]) / (2 * h));
    CHECK(rel_err(hv[k], Arr((gp[k] - gm[k]) / (2 * h)), Rel::normwise) < 1e-6);
    CHECK(rel_err(gradient[k], g0[k], Rel::normwise) < 1e-15);
  }
  if (total <= 40) {  // the Hessian: columns by hvp are symmetric; hessian() is them; H v = hvp
    const Arr H = t.hessian(loss, xv);
    REQUIRE(H.shape()[0] == total);
    Arr raw = xt::zeros<double>({total, total});
    Inputs e;
    for (std::size_t k = 0; k < x.size(); ++k) e.push_back(xt::zeros<double>(detail::shape_of(x[k])));
    for (std::size_t c = 0, k = 0, j = 0; c < total; ++c, ++j) {
      if (j == x[k].size()) j = 0, ++k;
      e[k].data()[j] = 1;
      const auto col = t.hvp(loss, xv, e);
      e[k].data()[j] = 0;
      std::size_t r = 0;
      for (const auto& block : col)
        for (std::size_t q = 0; q < block.size(); ++q) raw(r++, c) = block.data()[q];
    }
    CHECK(rel_err(raw, Arr(xt::transpose(raw)), Rel::normwise) < 1e-12);
    CHECK(rel_err(H, raw, Rel::normwise) < 1e-12);
    Arr flat_v = xt::zeros<double>({total}), flat_hv = xt::zeros<double>({total});
    std::size_t i = 0;
    for (std::size_t k = 0; k < x.size(); ++k)
      for (std::size_t j = 0; j < x[k].size(); ++j, ++i) {
        flat_v(i) = v[k].data()[j];
        flat_hv(i) = hv[k].data()[j];
      }
    Arr Hv = xt::zeros<double>({total});
    for (std::size_t r = 0; r < total; ++r)
      for (std::size_t c = 0; c < total; ++c) Hv(r) += H(r, c) * flat_v(c);
    CHECK(rel_err(Hv, flat_hv, Rel::normwise) < 1e-12);
  }

  // float against double
  Tape<float> tf;
  Inputs xr;
  for (const auto& a : x) xr.push_back(detail::rounded_to_float(a));
  auto xf = detail::record(tf, xr);
  Var<float> yf = op(xf);
  std::vector<xt::xarray<float>> vf;
  for (const auto& a : v) vf.push_back(xt::cast<float>(a));
  CHECK(rel_err(tf.jvp(yf, xf, vf), jvp, Rel::normwise) < 1e-3);
  const auto hvf = tf.hvp(ad::sum(ad::sin(yf) * tf.constant(xt::xarray<float>(xt::cast<float>(w)))), xf, vf);
  for (std::size_t k = 0; k < x.size(); ++k) CHECK(rel_err(hvf[k], hv[k], Rel::normwise) < 1e-3);
}

/// One row, as the header says.
inline void check_row(const Row& r) {
  INFO("row: " << r.label);
  const unsigned seed = detail::seed_of(r.label);
  Inputs x = r.domain.given;
  if (x.empty())
    for (std::size_t k = 0; k < r.shapes.size(); ++k)
      x.push_back(random_array(r.shapes[k], r.domain.lo, r.domain.hi, seed + 1 + k));
  for (std::size_t k = 0; k < r.shapes.size() && k < x.size(); ++k)
    REQUIRE(detail::shape_of(x[k]) == r.shapes[k]);

  // double: the value, the gradient against the row's own vjp and against finite differences
  Tape<double> td;
  auto xd = detail::record(td, x);
  Var<double> yd = r.f(xd);
  CHECK(std::string(yd.op()) == r.op);
  CHECK(rel_err(yd.value(), r.value(x), r.tol.how) <= r.tol.value);
  const Arr w = random_array(detail::shape_of(yd.value()), -1, 1, seed);
  td.backward(ad::sum(yd * td.constant(w)));
  Inputs gd;
  for (std::size_t k = 0; k < x.size(); ++k) {
    gd.push_back(xd[k].grad());
    CHECK(detail::shape_of(gd[k]) == detail::shape_of(x[k]));
  }
  if (r.vjp) {
    const Inputs want = r.vjp(x, w);
    REQUIRE(want.size() == x.size());
    for (std::size_t k = 0; k < x.size(); ++k) CHECK(rel_err(gd[k], want[k], r.tol.how) <= r.tol.grad);
  }
  if (r.fd) check_finite_differences(r.f, x, w);
  if (r.fd) check_second_order(r.f, x, w, seed);

  // float: the inputs and weights rounded to float, the references in double from those
  Inputs xr;
  for (const auto& a : x) xr.push_back(detail::rounded_to_float(a));
  const Arr wr = detail::rounded_to_float(w);
  Tape<float> tf;
  auto xf = detail::record(tf, xr);
  Var<float> yf = r.f(xf);
  CHECK(std::string(yf.op()) == r.op);
  CHECK(rel_err(yf.value(), r.value(xr), Rel::normwise) <= r.tol.value_f);
  tf.backward(ad::sum(yf * tf.constant(xt::xarray<float>(xt::cast<float>(wr)))));
  const Inputs want_f = r.vjp ? r.vjp(xr, wr) : gd;
  for (std::size_t k = 0; k < x.size(); ++k)
    CHECK(rel_err(xf[k].grad(), want_f[k], Rel::normwise) <= r.tol.grad_f);

  // shape errors name the op
  for (const auto& shapes : r.bad_shapes) {
    Inputs bad;
    for (const auto& s : shapes) bad.push_back(xt::zeros<double>(s));
    Tape<double> tb;
    Tape<float> tbf;
    const std::string md = support::message_of<ad::ShapeError>([&] { r.f(detail::record(tb, bad)); });
    const std::string mf = support::message_of<ad::ShapeError>([&] { r.f(detail::record(tbf, bad)); });
    CHECK(md.rfind(r.op + ": ", 0) == 0);
    CHECK(mf == md);
  }
}

inline void check_rows(const std::vector<Row>& rows) {
  for (const auto& r : rows) check_row(r);
}

}  // namespace op_checks
