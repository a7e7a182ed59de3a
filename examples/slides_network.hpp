// The worked example of the course slides ("Multilayer Perceptron — One Hidden Layer Network"):
// a 2-3-1 network with linear activations, one sample, L = 1/2 (y_hat - y)^2, one SGD step.
// Computed three ways, in the slides' orientation (W1 is (3, 2): z1 = W1 x + b1):
//   by_engine()  the tape: values, gradients from the reverse sweep, then W -= eta dW
//   by_nn()      ad::nn: Linear(2, 3) -> Linear(3, 1), loss, backward, SGD(lr = 0.1).step();
//                nn's Linear stores W as (fan_in, fan_out), the transpose of the slides' W1
//   by_hand()    the slides' own formulas in plain xtensor (user code, as the slides derive it)
// Used by examples/worked_example.cpp and tests/gradcheck/test_worked_example.cpp.
#pragma once

#include <ad/backprop_check.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/ops.hpp>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xmanipulation.hpp>

namespace slides {

using Array = xt::xarray<double>;

// The slides' data.
inline const Array x = {1.0, 2.0};
inline const Array W1 = {{0.5, 0.2}, {0.3, 0.8}, {0.6, 0.4}};
inline const Array b1 = {0.1, 0.1, 0.1};
inline const Array W2 = {0.4, 0.3, 0.2};
inline const double b2 = 0.1;
inline const double y = 1.0;
inline const double eta = 0.1;

// The slides' answers.
namespace expected {
inline const Array z1 = {1.0, 2.0, 1.5};
inline const double y_hat = 1.4;
inline const double loss = 0.08;  // 1/2 (1.4 - 1)^2
inline const Array dW2 = {0.4, 0.8, 0.6};
inline const double db2 = 0.4;
inline const Array dW1 = {{0.16, 0.32}, {0.12, 0.24}, {0.08, 0.16}};
inline const Array db1 = {0.16, 0.12, 0.08};
inline const Array W1_new = {{0.484, 0.168}, {0.288, 0.776}, {0.592, 0.384}};
inline const Array b1_new = {0.084, 0.088, 0.092};
inline const Array W2_new = {0.36, 0.22, 0.14};
inline const double b2_new = 0.06;
}  // namespace expected

/// Every number of the worked example, in the slides' orientation.
struct Numbers {
  Array z1;
  double y_hat = 0, loss = 0;
  Array dW1, db1, dW2;
  double db2 = 0;
  Array W1_new, b1_new, W2_new;
  double b2_new = 0;
};

/// The loss as a function of the named parameters, recorded with ad ops.
inline ad::Var<double> loss_on_tape(ad::Tape<double>& t, const ad::NamedVars& p) {
  auto z1 = ad::matmul(p["W1"], t.constant(x)) + p["b1"];  // (3, 2) @ (2,) -> (3,)
  auto y_hat = ad::matmul(p["W2"], z1) + p["b2"];          // (3,) @ (3,) -> a single value
  auto e = y_hat - y;
  return 0.5 * (e * e);
}

inline ad::NamedTensors parameters() { return {{"W1", W1}, {"b1", b1}, {"W2", W2}, {"b2", Array(b2)}}; }

inline Numbers by_engine() {
  ad::Tape<double> t;
  auto w1 = t.variable(W1), bb1 = t.variable(b1), w2 = t.variable(W2), bb2 = t.variable(b2);
  auto z1 = ad::matmul(w1, t.constant(x)) + bb1;
  auto y_hat = ad::matmul(w2, z1) + bb2;
  auto e = y_hat - y;
  auto L = 0.5 * (e * e);
  const auto g = t.grad(L, {w1, bb1, w2, bb2});
  Numbers n;
  n.z1 = z1.value();
  n.y_hat = y_hat.item();
  n.loss = L.item();
  n.dW1 = g[0];
  n.db1 = g[1];
  n.dW2 = g[2];
  n.db2 = g[3]();
  n.W1_new = W1 - eta * n.dW1;
  n.b1_new = b1 - eta * n.db1;
  n.W2_new = W2 - eta * n.dW2;
  n.b2_new = b2 - eta * n.db2;
  return n;
}

inline Numbers by_nn() {
  ad::nn::Sequential<double> net;
  auto& l1 = net.emplace<ad::nn::Linear<double>>(2, 3, std::uint64_t{1});
  auto& l2 = net.emplace<ad::nn::Linear<double>>(3, 1, std::uint64_t{2});
  l1.weight.value = xt::transpose(W1);         // (2, 3) = W1^T
  l1.bias.value = b1;                          // (3,)
  l2.weight.value = xt::reshape_view(W2, {3, 1});  // (3, 1) = W2^T
  l2.bias.value = Array{b2};                   // (1,)

  ad::Tape<double> t;
  auto X = t.constant(Array{{x(0), x(1)}});    // a batch of one sample, (1, 2)
  auto z1 = net.forward_first(X, 1);           // (1, 3)
  auto out = l2(z1);                           // (1, 1)
  const Array target = xt::xarray<double>::from_shape({1, 1}) * 0.0 + y;  // (1, 1)
  auto L = 0.5 * ad::nn::mse_loss(out, t.constant(target));  // the mean of one squared error
  net.zero_grad();  // gradients accumulate over backward calls, as in PyTorch
  t.backward(L);    // every parameter's grad now holds dL/dparameter
  auto params = net.parameters();

  Numbers n;
  n.z1 = xt::flatten(z1.value());
  n.y_hat = out.item();
  n.loss = L.item();
  n.dW1 = xt::transpose(l1.weight.grad);
  n.db1 = l1.bias.grad;
  n.dW2 = xt::flatten(l2.weight.grad);
  n.db2 = l2.bias.grad(0);

  ad::nn::SGD<double> sgd(params, ad::nn::SGDOptions{.lr = eta});
  sgd.step();
  n.W1_new = xt::transpose(l1.weight.value);
  n.b1_new = l1.bias.value;
  n.W2_new = xt::flatten(l2.weight.value);
  n.b2_new = l2.bias.value(0);
  return n;
}

/// The slides' derivation, as a student would type it: dL/dW2 = (a2 - y) a1^T, dL/db2 = a2 - y,
/// dL/dW1 = (a2 - y) W2^T x^T, dL/db1 = (a2 - y) W2^T.
inline ad::NamedTensors by_hand_gradients() {
  const Array a1 = xt::linalg::dot(W1, x) + b1;
  const double a2 = xt::linalg::dot(W2, a1)() + b2;
  const double e = a2 - y;
  const Array col = xt::reshape_view(W2, {3, 1}), row = xt::reshape_view(x, {1, 2});
  return {{"W1", Array(e * xt::linalg::dot(col, row))}, {"b1", Array(e * W2)}, {"W2", Array(e * a1)}, {"b2", Array(e)}};
}

}  // namespace slides
