// What the op tests share: seeded random arrays, the norm-wise relative error, and the check of
// an op against central finite differences (the public gradcheck) and of float32 against float64.
#pragma once

#include <ad/gradcheck.hpp>
#include <ad/ops.hpp>

#include <doctest/doctest.h>
#include <xtensor/xarray.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xrandom.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

namespace op_checks {

using ad::Tape;
using ad::Var;
using Arr = xt::xarray<double>;

inline Arr random_array(const std::vector<std::size_t>& shape, double lo, double hi, unsigned seed) {
  xt::random::seed(seed);
  Arr a = xt::random::rand<double>(shape, lo, hi);
  return a;
}

// max |a - b| / max |b|, norm-wise relative error
inline double rel_err(const Arr& a, const Arr& b) {
  REQUIRE(a.shape() == b.shape());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::abs(a.data()[i] - b.data()[i]));
    den = std::max(den, std::abs(b.data()[i]));
  }
  return den == 0 ? num : num / den;
}

// A generic op under test: the same lambda runs on Var<float> and Var<double>.
using OpD = std::function<Var<double>(const std::vector<Var<double>>&)>;
using OpF = std::function<Var<float>(const std::vector<Var<float>>&)>;

// Loss = sum(W * op(inputs)) for a fixed random W: its gradient is the op's vector-Jacobian
// product with W, which the analytic references below compute.
template <class Op>
void check_fd_and_float(const Op& op, const std::vector<Arr>& inputs, const Arr& w) {
  ad::TensorFunction f = [&](Tape<double>& t, const std::vector<Var<double>>& x) {
    return ad::sum(op(x) * t.constant(w));
  };
  auto r = ad::gradcheck(f, inputs);
  INFO(r.report());
  CHECK(r.ok);
  for (const auto& e : r.inputs) CHECK(e.max_abs_error < 1e-6);

  // float32 against float64: values and gradients within 1e-4 relative
  Tape<double> td;
  Tape<float> tf;
  std::vector<Var<double>> xd;
  std::vector<Var<float>> xf;
  for (const auto& a : inputs) {
    xd.push_back(td.variable(a));
    xf.push_back(tf.variable(xt::xarray<float>(xt::cast<float>(a))));
  }
  Var<double> yd = op(xd);
  Var<float> yf = op(xf);
  CHECK(rel_err(xt::cast<double>(yf.value()), yd.value()) < 1e-4);
  td.backward(ad::sum(yd * td.constant(w)));
  tf.backward(ad::sum(yf * tf.constant(xt::xarray<float>(xt::cast<float>(w)))));
  for (std::size_t k = 0; k < inputs.size(); ++k)
    CHECK(rel_err(xt::cast<double>(xf[k].grad()), xd[k].grad()) < 1e-4);
}

}  // namespace op_checks
