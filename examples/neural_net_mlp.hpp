// The course's NeuralNetMLP, written the way the course writes it: plain arrays (xtensor +
// xtensor-blas in place of NumPy) and backprop derived by hand. This is *user code*: the library
// never sees these formulas, it only checks them (examples/backprop_check.cpp,
// tests/gradcheck/test_backprop_check.cpp).
//
//   forward   Z_h = X W_h + b_h,  A_h = sigmoid(Z_h),  Z_out = A_h W_out + b_out,  A_out = sigmoid(Z_out)
//   cost      J = -sum(Y log A_out + (1 - Y) log(1 - A_out)) + (lambda/2) (|W_h|^2 + |W_out|^2)
//   backprop  delta_out = A_out - Y
//             delta_h   = delta_out W_out^T * A_h (1 - A_h)
//             Delta_out = A_h^T delta_out + lambda W_out,   db_out = sum_rows(delta_out)
//             Delta_h   = X^T delta_h + lambda W_h,         db_h   = sum_rows(delta_h)
//
// backprop() can also reproduce classic mistakes, to show what the checker says about them.
#pragma once

#include <ad/backprop_check.hpp>
#include <ad/ops.hpp>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xreducer.hpp>

#include <cmath>
#include <cstddef>

namespace course {

using Array = xt::xarray<double>;

enum class Bug {
  none,
  missing_transpose,         // delta_h = delta_out W_out * ...      (W_out^T expected; silent when W_out is square)
  sigmoid_derivative_twice,  // delta_h = delta_out W_out^T * A_h(1 - A_h) * A_h(1 - A_h)
  bias_regularized,          // db += lambda b, although the cost does not penalize biases
  transposed_gradient,       // Delta_h = delta_h^T X: the gradient comes out (n_hidden, n_features)
};

inline const char* bug_name(Bug b) {
  switch (b) {
    case Bug::none: return "none";
    case Bug::missing_transpose: return "missing_transpose";
    case Bug::sigmoid_derivative_twice: return "sigmoid_derivative_twice";
    case Bug::bias_regularized: return "bias_regularized";
    case Bug::transposed_gradient: return "transposed_gradient";
  }
  return "?";
}

inline Array sigmoid(const Array& z) { return 1.0 / (1.0 + xt::exp(-xt::clip(z, -250.0, 250.0))); }

struct NeuralNetMLP {
  double l2 = 0.01;
  Array w_h, b_h, w_out, b_out;  // (features, hidden), (hidden,), (hidden, outputs), (outputs,)

  struct Forward {
    Array z_h, a_h, z_out, a_out;
  };
  struct Gradients {
    Array w_h, b_h, w_out, b_out;
    ad::NamedTensors named() const { return {{"W_h", w_h}, {"b_h", b_h}, {"W_out", w_out}, {"b_out", b_out}}; }
  };

  ad::NamedTensors parameters() const {
    return {{"W_h", w_h}, {"b_h", b_h}, {"W_out", w_out}, {"b_out", b_out}};
  }

  Forward forward(const Array& X) const {
    Forward f;
    f.z_h = xt::linalg::dot(X, w_h) + b_h;
    f.a_h = sigmoid(f.z_h);
    f.z_out = xt::linalg::dot(f.a_h, w_out) + b_out;
    f.a_out = sigmoid(f.z_out);
    return f;
  }

  double compute_cost(const Array& y_enc, const Array& output) const {
    const double l2_term = (l2 / 2) * (xt::sum(w_h * w_h)() + xt::sum(w_out * w_out)());
    const Array term = y_enc * xt::log(output) + (1.0 - y_enc) * xt::log(1.0 - output);
    return -xt::sum(term)() + l2_term;
  }

  Gradients backprop(const Array& X, const Array& y_enc, Bug bug = Bug::none) const {
    const Forward f = forward(X);
    const Array delta_out = f.a_out - y_enc;
    const Array sigmoid_derivative_h = f.a_h * (1.0 - f.a_h);
    const Array w_out_t = xt::transpose(w_out);
    Array delta_h = xt::linalg::dot(delta_out, bug == Bug::missing_transpose ? w_out : w_out_t) * sigmoid_derivative_h;
    if (bug == Bug::sigmoid_derivative_twice) delta_h = delta_h * sigmoid_derivative_h;

    Gradients g;
    const Array X_t = xt::transpose(X), a_h_t = xt::transpose(f.a_h), delta_h_t = xt::transpose(delta_h);
    g.w_h = bug == Bug::transposed_gradient ? Array(xt::linalg::dot(delta_h_t, X)) : Array(xt::linalg::dot(X_t, delta_h));
    g.b_h = xt::sum(delta_h, {0});
    g.w_out = xt::linalg::dot(a_h_t, delta_out);
    g.b_out = xt::sum(delta_out, {0});
    if (bug == Bug::transposed_gradient)
      g.w_h = g.w_h + xt::transpose(l2 * w_h);
    else
      g.w_h = g.w_h + l2 * w_h;
    g.w_out = g.w_out + l2 * w_out;
    if (bug == Bug::bias_regularized) {  // the cost has no bias term, so this is wrong
      g.b_h = g.b_h + l2 * b_h;
      g.b_out = g.b_out + l2 * b_out;
    }
    return g;
  }

  /// The same cost, written once more with ad ops over the named parameters: what the checker
  /// differentiates (exactly, by the engine) and evaluates (for finite differences).
  ad::NamedLoss loss(const Array& X, const Array& y_enc) const {
    const double lambda = l2;
    return [X, y_enc, lambda](ad::Tape<double>& t, const ad::NamedVars& p) {
      auto x = t.constant(X), y = t.constant(y_enc);
      auto a_h = ad::sigmoid(ad::matmul(x, p["W_h"]) + p["b_h"]);
      auto a_out = ad::sigmoid(ad::matmul(a_h, p["W_out"]) + p["b_out"]);
      auto logistic = -ad::sum(y * ad::log(a_out) + (1.0 - y) * ad::log(1.0 - a_out));
      auto penalty = ad::sum(p["W_h"] * p["W_h"]) + ad::sum(p["W_out"] * p["W_out"]);
      return logistic + (lambda / 2) * penalty;
    };
  }
};

/// A small deterministic problem of the iris kind: 6 samples, 4 features, 3 hidden units,
/// 3 classes (one-hot). W_out is square, so a missing transpose does not raise a shape error;
/// the biases are non-zero, so regularizing them changes the gradient.
struct Problem {
  Array X, y_enc;
  NeuralNetMLP net;
};

inline Problem make_problem() {
  Problem p;
  const std::size_t n = 6, features = 4, hidden = 3, outputs = 3;
  p.X = Array::from_shape({n, features});
  p.y_enc = xt::zeros<double>({n, outputs});
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < features; ++j) p.X(i, j) = std::sin(1.0 + 1.7 * double(i) + 0.9 * double(j));
    p.y_enc(i, i % outputs) = 1.0;
  }
  auto& net = p.net;
  net.l2 = 0.1;
  net.w_h = Array::from_shape({features, hidden});
  net.w_out = Array::from_shape({hidden, outputs});
  net.b_h = Array::from_shape({hidden});
  net.b_out = Array::from_shape({outputs});
  for (std::size_t i = 0; i < features; ++i)
    for (std::size_t j = 0; j < hidden; ++j) net.w_h(i, j) = 0.5 * std::cos(0.3 + 1.3 * double(i) + 2.1 * double(j));
  for (std::size_t i = 0; i < hidden; ++i)
    for (std::size_t j = 0; j < outputs; ++j) net.w_out(i, j) = 0.8 * std::sin(0.7 + 0.4 * double(i) - 1.9 * double(j));
  for (std::size_t j = 0; j < hidden; ++j) net.b_h(j) = 0.1 * double(j) - 0.15;
  for (std::size_t j = 0; j < outputs; ++j) net.b_out(j) = 0.2 - 0.12 * double(j);
  return p;
}

}  // namespace course
